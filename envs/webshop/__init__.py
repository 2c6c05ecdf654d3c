"""WebShop (Yao et al. 2022) offline.

Engine, pages, BM25 search, upstream reward, bundled catalog, web server.
"""
