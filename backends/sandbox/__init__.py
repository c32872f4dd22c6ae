"""The sandbox backends, one aiohttp application serving every service API."""
