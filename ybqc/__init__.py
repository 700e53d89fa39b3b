"""ybqc: 医保上传数据质控 — check what a facility is about to upload to the national
medical-insurance platform, before the platform's big-data rules do.

Flow: readers (files -> raw text tables) -> normalise (interface field names, table kinds) ->
validators (checks -> findings) -> reports (console, JSON, JUnit, XLSX/CSV). `ybqc.engine.run`
is the library entry point; `ybqc.cli` is a thin shell over it.
"""
__version__ = "0.1.0"
