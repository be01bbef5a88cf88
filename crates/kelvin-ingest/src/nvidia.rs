//! NVML through nvidia-smi: `--query-gpu --format=csv`, `pmon`, `dmon`.
