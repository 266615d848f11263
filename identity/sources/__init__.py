"""Identity sources: one module per kind behind one interface (``base.PullSource``); copy one to add another."""
