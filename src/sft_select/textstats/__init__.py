"""textstats."""
