"""WebShop (Yao et al. 2022) offline: engine, pages, BM25 search, upstream reward, bundled catalog, web server."""
