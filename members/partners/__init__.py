"""Partner systems (POS vendors, online shops, the brand's mini-program) and their API keys.

The models live here, in the lowest app, because every app's API endpoints scope by partner.
"""
