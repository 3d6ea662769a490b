"""Publishing: feeds out, sitemaps and digests."""
