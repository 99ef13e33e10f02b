"""An HTML report of a bodyfit run, built from its output folder alone: ``write_report``
writes ``OUTPUT/report.html`` (``bodyfit report OUTPUT`` rebuilds it). It opens from disk
with no server: overlays, a sortable per-person table, histograms and a 3D view."""
from bodyfit.report.build import write_report
from bodyfit.report.collect import ReportError

__all__ = ["ReportError", "write_report"]
