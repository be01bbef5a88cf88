//! Redfish JSON: legacy `Thermal`/`Power`, `Sensors`, `PowerSubsystem`, `EnvironmentMetrics`,
//! power equipment and telemetry `MetricReport`s, single resources or mockup trees.
