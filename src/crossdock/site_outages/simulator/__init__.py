"""A faithful fake of the energy platform's outages API with faults (``crossdock simulate krakenflex``)."""
