"""Traffic enforcement over the log: section (average-speed) control and the low-emission
zone, with offence records exchangeable under the EU cross-border enforcement directive."""
