//! The fleet export as two listing tables: [`register_tables`].

use std::io;
use std::path::{Path, PathBuf};

use datafusion::arrow::datatypes::DataType;
use datafusion::error::{DataFusionError, Result};
use datafusion::prelude::{ParquetReadOptions, SessionContext};

/// The table names [`register_tables`] registers, in order: `readings` and `bills`.
pub const TABLES: [&str; 2] = ["readings", "bills"];

/// The Hive partition columns of both tables, in directory order (`site=…/date=…/`), as
/// strings.
pub const PARTITION_COLUMNS: [&str; 2] = ["site", "date"];

/// Registers the fleet export under `root` as the tables `readings` and `bills` of `ctx`.
///
/// `root` is the directory `kelvin::export` (or `fleet export`) wrote:
/// `ROOT/readings/site=SITE/date=YYYY-MM-DD/*.parquet` and the same under `ROOT/bills`. Each
/// table is a Parquet listing table over its directory with the partition columns `site`
/// and `date` (both `Utf8`, after the file columns); a filter on them prunes whole
/// directories. The file schema is read from the files at registration, so sites exported
/// later appear in later queries as long as their schema is the same. The paths registered
/// are absolute, so a Ballista plan built from `ctx` finds the same files on executors that
/// share this filesystem.
///
/// # Errors
/// An [`io::ErrorKind::NotFound`] error naming the directory when `root/readings` or
/// `root/bills` does not exist or holds no Parquet file; DataFusion's error (with the table's
/// path as context) when a file cannot be read.
///
/// ```no_run
/// # async fn f() -> datafusion::error::Result<()> {
/// use datafusion::prelude::SessionContext;
///
/// let ctx = SessionContext::new();
/// kelvin_fleet::register_tables(&ctx, std::path::Path::new("/var/lib/kelvin/fleet")).await?;
/// let df = ctx.sql("SELECT site, count(*) FROM readings GROUP BY site").await?;
/// df.show().await?;
/// # Ok(())
/// # }
/// ```
pub async fn register_tables(ctx: &SessionContext, root: &Path) -> Result<()> {
    for table in TABLES {
        let dir = table_dir(root, table)?;
        let url = format!("{}/", dir.display());
        let partitions = PARTITION_COLUMNS
            .iter()
            .map(|c| (c.to_string(), DataType::Utf8))
            .collect();
        let opts = ParquetReadOptions::default().table_partition_cols(partitions);
        ctx.register_parquet(table, &url, opts)
            .await
            .map_err(|e| e.context(format!("registering table {table} over {url}")))?;
        let provider = ctx.table_provider(table).await?;
        if provider.schema().fields().len() <= PARTITION_COLUMNS.len() {
            ctx.deregister_table(table)?;
            return Err(not_found(format!(
                "no Parquet files under {} (expected {table}/site=SITE/date=YYYY-MM-DD/*.parquet)",
                dir.display()
            )));
        }
    }
    Ok(())
}

/// `root/table` as an absolute directory that exists.
fn table_dir(root: &Path, table: &str) -> Result<PathBuf> {
    let dir = root.join(table);
    if !dir.is_dir() {
        return Err(not_found(format!(
            "no {table} table at {}: not a directory (expected a fleet export root holding \
             readings/ and bills/, as `fleet export` writes)",
            dir.display()
        )));
    }
    std::path::absolute(&dir)
        .map_err(|e| DataFusionError::IoError(e).context(format!("resolving {}", dir.display())))
}

fn not_found(msg: String) -> DataFusionError {
    DataFusionError::IoError(io::Error::new(io::ErrorKind::NotFound, msg))
}
