//! Query results as `ndarray` arrays and, with the `polars` feature, Polars `DataFrame`s.
//!
//! [`crate::resample_many`] and [`crate::asof_join_many`] already return an
//! [`ndarray::Array2`]; this module adds the arrays of grids and buckets and, behind the `polars`
//! feature, data frames with a `ts` column of Polars type `Datetime(ns)`.

use ndarray::{Array1, Array2};

use crate::{Buckets, Grid};

/// The points of `grid` in nanoseconds: the row labels of [`crate::resample_many`]'s result.
///
/// ```
/// use kelvin_model::Timestamp;
/// use kelvin_store::{grid_points, Grid};
///
/// let grid = Grid::try_new(Timestamp::from_nanos(100), 50, 3)?;
/// assert_eq!(grid_points(&grid).to_vec(), [100, 150, 200]);
/// # Ok::<(), kelvin_store::StoreError>(())
/// ```
pub fn grid_points(grid: &Grid) -> Array1<i64> {
    grid.points().map(|t| t.as_nanos()).collect()
}

impl Buckets {
    /// The bucket starts in nanoseconds: the row labels of [`Buckets::to_array2`].
    ///
    /// ```
    /// use kelvin_store::time_buckets;
    ///
    /// let b = time_buckets(&[0, 70], &[1.0, 2.0], 0, 60)?;
    /// assert_eq!(b.start_array().to_vec(), [0, 60]);
    /// # Ok::<(), kelvin_store::StoreError>(())
    /// ```
    pub fn start_array(&self) -> Array1<i64> {
        Array1::from(self.start().to_vec())
    }

    /// The buckets as a matrix: one row per bucket, one column per name of
    /// [`Buckets::VALUE_COLUMNS`] (`count, sum, min, max, mean, first, last`; the count as an
    /// `f64`).
    ///
    /// ```
    /// use kelvin_store::{time_buckets, Buckets};
    ///
    /// let b = time_buckets(&[0, 10, 70], &[1.0, 3.0, 5.0], 0, 60)?;
    /// let m = b.to_array2();
    /// assert_eq!(m.shape(), [2, Buckets::VALUE_COLUMNS.len()]);
    /// assert_eq!(m.row(0).to_vec(), [2.0, 4.0, 1.0, 3.0, 2.0, 1.0, 3.0]);
    /// # Ok::<(), kelvin_store::StoreError>(())
    /// ```
    pub fn to_array2(&self) -> Array2<f64> {
        let columns: [&[f64]; 6] = [
            self.sum(),
            self.min(),
            self.max(),
            self.mean(),
            self.first(),
            self.last(),
        ];
        let mut out = Array2::zeros((self.len(), Self::VALUE_COLUMNS.len()));
        for (i, mut row) in out.rows_mut().into_iter().enumerate() {
            row[0] = self.count()[i] as f64;
            for (c, col) in columns.iter().enumerate() {
                row[c + 1] = col[i];
            }
        }
        out
    }
}

#[cfg(feature = "polars")]
mod polars_frames {
    use ndarray::ArrayView2;
    use polars::prelude::{
        Column, DataFrame, Float64Chunked, Int64Chunked, IntoColumn, PlSmallStr, TimeUnit,
        UInt64Chunked,
    };

    use crate::{Buckets, Grid, SeriesData, SeriesKey, StoreError, StoreErrorKind};

    fn datetime_ns(name: &str, ns: Vec<i64>) -> Column {
        Int64Chunked::from_vec(PlSmallStr::from(name), ns)
            .into_datetime(TimeUnit::Nanoseconds, None)
            .into_column()
    }

    fn float(name: &str, v: Vec<f64>) -> Column {
        Float64Chunked::from_vec(PlSmallStr::from(name), v).into_column()
    }

    fn frame(what: &str, height: usize, columns: Vec<Column>) -> Result<DataFrame, StoreError> {
        DataFrame::new(height, columns).map_err(|e| {
            StoreError::new(
                StoreErrorKind::InvalidInput,
                format!("{what}: cannot build a data frame: {e}"),
            )
        })
    }

    impl Buckets {
        /// The buckets as a data frame: `start` (`Datetime(ns)`), `count` (`u64`), `sum`, `min`,
        /// `max`, `mean`, `first`, `last` (`f64`), `first_ts`, `last_ts` (`Datetime(ns)`); one
        /// row per bucket. Needs the `polars` feature.
        ///
        /// # Errors
        /// None in practice (the columns always have equal lengths and distinct names); a Polars
        /// error would be reported as [`StoreErrorKind::InvalidInput`].
        ///
        /// ```
        /// use kelvin_store::time_buckets;
        ///
        /// let b = time_buckets(&[0, 10, 70], &[1.0, 3.0, 5.0], 0, 60)?;
        /// let df = b.to_dataframe()?;
        /// assert_eq!(df.shape(), (2, 10));
        /// let mean: Vec<Option<f64>> = df.column("mean")?.f64()?.to_vec();
        /// assert_eq!(mean, [Some(2.0), Some(5.0)]);
        /// # Ok::<(), Box<dyn std::error::Error>>(())
        /// ```
        pub fn to_dataframe(&self) -> Result<DataFrame, StoreError> {
            let columns = vec![
                datetime_ns("start", self.start().to_vec()),
                UInt64Chunked::from_vec(PlSmallStr::from("count"), self.count().to_vec())
                    .into_column(),
                float("sum", self.sum().to_vec()),
                float("min", self.min().to_vec()),
                float("max", self.max().to_vec()),
                float("mean", self.mean().to_vec()),
                float("first", self.first().to_vec()),
                float("last", self.last().to_vec()),
                datetime_ns("first_ts", self.first_ts().to_vec()),
                datetime_ns("last_ts", self.last_ts().to_vec()),
            ];
            frame("buckets", self.len(), columns)
        }
    }

    impl SeriesData {
        /// The series as a data frame of two columns, `ts` (`Datetime(ns)`) and `value`
        /// (`f64`). Needs the `polars` feature.
        ///
        /// # Errors
        /// [`StoreErrorKind::InvalidInput`] when `ts` and `values` differ in length.
        ///
        /// ```
        /// use kelvin_model::{EntityId, SensorKind};
        /// use kelvin_store::{SeriesData, SeriesKey};
        ///
        /// let key = SeriesKey::new(EntityId::new("host-01")?, "psu1", SensorKind::Power);
        /// let data = SeriesData { key, ts: vec![0, 15_000_000_000], values: vec![200.0, 210.0] };
        /// let df = data.to_dataframe()?;
        /// assert_eq!(df.shape(), (2, 2));
        /// assert_eq!(df.get_column_names(), ["ts", "value"]);
        /// # Ok::<(), Box<dyn std::error::Error>>(())
        /// ```
        pub fn to_dataframe(&self) -> Result<DataFrame, StoreError> {
            if self.ts.len() != self.values.len() {
                return Err(StoreError::new(
                    StoreErrorKind::InvalidInput,
                    format!(
                        "series {}: {} timestamps but {} values",
                        self.key,
                        self.ts.len(),
                        self.values.len()
                    ),
                ));
            }
            let columns = vec![
                datetime_ns("ts", self.ts.clone()),
                float("value", self.values.clone()),
            ];
            frame(&format!("series {}", self.key), self.ts.len(), columns)
        }
    }

    /// A resampling result as a data frame: a `ts` column (`Datetime(ns)`, the grid's points)
    /// and one `f64` column per series, named by the series key's display
    /// (`host-01/psu1 (power)`). `values` is [`crate::resample_many`]'s matrix: one row per
    /// grid point, column `j` for `keys[j]`. Needs the `polars` feature.
    ///
    /// # Errors
    /// [`StoreErrorKind::InvalidInput`] when the matrix does not have `grid.len()` rows and
    /// `keys.len()` columns, or two keys display the same.
    ///
    /// ```
    /// use kelvin_model::{EntityId, SensorKind, Timestamp};
    /// use kelvin_store::{resample_frame, resample_many, Grid, ResampleOptions, SeriesKey};
    ///
    /// let key = SeriesKey::new(EntityId::new("host-01")?, "psu1", SensorKind::Power);
    /// let grid = Grid::try_new(Timestamp::from_nanos(0), 10, 3)?;
    /// let (ts, w) = (vec![0, 10, 20], vec![200.0, 210.0, 220.0]);
    /// let m = resample_many(&[(&ts, &w)], &grid, &ResampleOptions::default())?;
    /// let df = resample_frame(&grid, &[key], m.view())?;
    /// assert_eq!(df.get_column_names(), ["ts", "host-01/psu1 (power)"]);
    /// assert_eq!(df.height(), 3);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn resample_frame(
        grid: &Grid,
        keys: &[SeriesKey],
        values: ArrayView2<'_, f64>,
    ) -> Result<DataFrame, StoreError> {
        if values.dim() != (grid.len(), keys.len()) {
            return Err(StoreError::new(
                StoreErrorKind::InvalidInput,
                format!(
                    "resample_frame: a {}×{} matrix for a grid of {} points and {} series",
                    values.nrows(),
                    values.ncols(),
                    grid.len(),
                    keys.len()
                ),
            ));
        }
        let mut columns = Vec::with_capacity(keys.len() + 1);
        columns.push(datetime_ns(
            "ts",
            grid.points().map(|t| t.as_nanos()).collect(),
        ));
        for (key, col) in keys.iter().zip(values.columns()) {
            columns.push(float(&key.to_string(), col.to_vec()));
        }
        frame("resample_frame", grid.len(), columns)
    }
}

#[cfg(feature = "polars")]
pub use polars_frames::resample_frame;
