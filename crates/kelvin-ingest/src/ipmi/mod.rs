//! IPMI text captures: ipmitool (`sensor`, `sdr`, `sdr elist`, `sdr -v`, `dcmi power reading`) and
//! FreeIPMI (`ipmi-sensors`, `ipmi-dcmi`).
