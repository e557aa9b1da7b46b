"""A fleet of fake LED controllers posting outage reports to the service, with delivery faults."""
