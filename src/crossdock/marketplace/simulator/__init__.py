"""A faithful fake of the marketplace provider, with fault injection (``crossdock simulate marketplace``)."""
