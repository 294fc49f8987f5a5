"""Paper-sized synthetic corpora in the real source formats (``benchmarks/paper_corpora.py`` is the entry point and
its docstring the overview): ``scripts`` and ``text`` make the text, ``archives`` packs it, ``ted``, ``wmt`` and
``wmt_devtest`` write the archives, ``files`` the directory of them and its downloads table."""
