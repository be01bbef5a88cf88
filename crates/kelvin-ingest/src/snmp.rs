//! SNMP walk text for PDUs and UPSes (net-snmp `snmpwalk` output, snmpsim `.snmprec`).
