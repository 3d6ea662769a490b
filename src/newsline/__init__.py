"""newsline: self-hostable news aggregation, digest and community platform."""

__version__ = "0.1.0"
