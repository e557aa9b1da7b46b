"""Controller outages: merge the 10-minute outage reports of LED controllers into outage events."""
