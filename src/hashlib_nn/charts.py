"""Interactive Vega-Lite charts that render with no network, and the book's chart helpers.

Altair's default renderers load Vega from a CDN, so a book read offline shows blank charts. Here:

- ``write_vega_bundle`` writes Vega, Vega-Lite and Vega-Embed as one self-contained script
  (from ``vl_convert.javascript_bundle``), wrapped in an IIFE so that its top-level names do
  not collide with Sphinx's globals (``_``). Jupyter Book 1 loads every ``.js`` file under
  ``book/_static`` on every page; the bundle lives at ``book/_static/vega-bundle.js``.
- ``use_offline_charts`` registers and enables a renderer that emits only a ``<div>`` and a
  ``vegaEmbed("#id", spec)`` call (``text/html``), which the bundle turns into an interactive
  chart in the browser.
- ``line_chart`` draws the figure shape of the paper (He et al. 2021, Figs. 1-3): our mean curve
  with a band over repeats, and the paper's digitized values as distinct point markers.
- Every chart title names the preset its runs come from (``chart_title``): the chart helpers take
  a required ``preset`` argument, and the browser check of the built book
  (``tools/book_check.py``, ``make check``) fails on a chart whose title names none.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import altair as alt
import pandas as pd

__all__ = [
    "BUNDLE_NAME",
    "CHART_CLASS",
    "RENDERER_NAME",
    "bucket_size_chart",
    "bundle_versions",
    "chart_html",
    "chart_title",
    "default_bundle_path",
    "firing_rate_chart",
    "line_chart",
    "names_preset",
    "offline_renderer",
    "use_offline_charts",
    "vegalite_version",
    "write_vega_bundle",
]

#: Name under which the offline renderer is registered with ``alt.renderers``.
RENDERER_NAME = "hashlib_nn_offline"
#: CSS class of every chart ``<div>``; the browser check of the built book looks for it.
CHART_CLASS = "hashlib-nn-chart"
#: File name of the bundle under ``book/_static``.
BUNDLE_NAME = "vega-bundle.js"
#: Altair refuses to embed more rows than this by default; aggregate before charting.
MAX_ROWS = 5000

_HEADER_RE = re.compile(
    r"^/\* hashlib_nn vega bundle: vega-lite (?P<vl>[\d.]+), vega (?P<vega>[\d.]+), "
    r"vega-embed (?P<embed>[\d.]+)"
)
_chart_counter = itertools.count(1)
_bundle_inlined = False


def vegalite_version() -> str:
    """Vega-Lite version (``"6.4"``) that altair writes specs for, as vl-convert names it."""
    major, minor = alt.SCHEMA_VERSION.lstrip("v").split(".")[:2]
    return f"{major}.{minor}"


def default_bundle_path() -> Path:
    """``book/_static/vega-bundle.js`` of the source checkout this module was imported from."""
    return Path(__file__).resolve().parents[2] / "book" / "_static" / BUNDLE_NAME


def _bundle_source() -> str:
    """The bundle text: a version header, then vl-convert's bundle inside an IIFE."""
    import vl_convert as vlc

    vl = vegalite_version()
    supported = vlc.get_vegalite_versions()
    if vl not in supported:
        raise RuntimeError(
            f"vl-convert-python {vlc.__version__} cannot bundle Vega-Lite {vl} (altair "
            f"{alt.__version__}); it supports {', '.join(supported)}. Upgrade vl-convert-python."
        )
    header = (
        f"/* hashlib_nn vega bundle: vega-lite {vl}, vega {vlc.get_vega_version()}, "
        f"vega-embed {vlc.get_vega_embed_version()}; written by hashlib_nn.charts."
        f"write_vega_bundle from vl-convert-python {vlc.__version__}. Licenses: Vega, "
        f"Vega-Lite and Vega-Embed are BSD-3-Clause (University of Washington Interactive "
        f"Data Lab); their bundled dependencies are ISC/BSD/MIT licensed. */\n"
    )
    return header + "(function () {\n" + vlc.javascript_bundle(vl_version=vl) + "\n})();\n"


def write_vega_bundle(path: str | Path | None = None) -> Path:
    """Write the offline Vega/Vega-Lite/Vega-Embed bundle (about 0.9 MB) and return its path.

    ``path`` defaults to ``book/_static/vega-bundle.js`` of this checkout. The bundle defines
    ``window.vegaEmbed``, ``window.vega`` and ``window.vegaLite`` and nothing else global.
    """
    target = Path(path) if path is not None else default_bundle_path()
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(_bundle_source(), encoding="utf-8")
    return target


def bundle_versions(path: str | Path | None = None) -> dict[str, str]:
    """Versions in a bundle's first line: keys ``vega-lite``, ``vega`` and ``vega-embed``."""
    target = Path(path) if path is not None else default_bundle_path()
    with target.open(encoding="utf-8") as fh:
        first = fh.readline()
    match = _HEADER_RE.match(first)
    if match is None:
        raise ValueError(
            f"{target} has no hashlib_nn bundle header; regenerate it with "
            f"`python -c 'import hashlib_nn.charts as c; c.write_vega_bundle()'`"
        )
    return {"vega-lite": match["vl"], "vega": match["vega"], "vega-embed": match["embed"]}


def chart_html(spec: dict[str, Any], *, inline_bundle: bool = False) -> str:
    """HTML for one chart: a ``<div>`` and a script that calls ``vegaEmbed`` on it.

    The element id is a page-wide counter plus a hash of the spec, so a re-executed chapter
    gives the same HTML. The script waits for the page's ``load`` event when the bundle (loaded
    by the page head, possibly deferred) is not there yet. With ``inline_bundle`` the whole
    bundle is prepended (for live notebooks outside the book).
    """
    spec_json = json.dumps(spec, sort_keys=True, separators=(",", ":"))
    digest = hashlib.sha1(spec_json.encode("utf-8")).hexdigest()[:10]
    div_id = f"hnn-chart-{next(_chart_counter)}-{digest}"
    # "</" inside a <script> would end it early; JSON allows the escaped form.
    safe_json = spec_json.replace("</", "<\\/")
    # SVG rather than canvas: the book's stylesheet (book/_static/hashlib_nn.css) then reaches
    # the drawn chart (solid legend swatches, width capped at the column).
    script = (
        "(function () {\n"
        f"  var spec = {safe_json};\n"
        "  function show() {\n"
        f'    vegaEmbed("#{div_id}", spec, {{actions: false, renderer: "svg"}})'
        '.catch(function (err) {\n'
        f'      document.getElementById("{div_id}").textContent = "Chart failed: " + err;\n'
        "    });\n"
        "  }\n"
        '  if (typeof window.vegaEmbed === "function") { show(); }\n'
        '  else { window.addEventListener("load", show); }\n'
        "})();"
    )
    parts = []
    if inline_bundle:
        bundle = _bundle_source().replace("</script", "<\\/script")
        parts.append(f"<script>{bundle}</script>")
    parts.append(f'<div id="{div_id}" class="{CHART_CLASS}"></div>')
    parts.append(f'<script type="text/javascript">\n{script}\n</script>')
    return "\n".join(parts)


def offline_renderer(spec: dict[str, Any], **metadata: Any) -> dict[str, str]:
    """Altair renderer: a ``text/html`` mimebundle made by :func:`chart_html`.

    No ``application/vnd.vegalite...`` entry is emitted: nbformat rejects altair's dict there,
    and the book would not render it anyway.
    """
    global _bundle_inlined
    inline = bool(metadata.get("inline_bundle", False)) and not _bundle_inlined
    if inline:
        _bundle_inlined = True
    return {"text/html": chart_html(spec, inline_bundle=inline)}


def use_offline_charts(*, inline_bundle: bool = False) -> None:
    """Register and enable the offline renderer; chapters call this once, after imports.

    In the built book the bundle comes from ``book/_static``. In a live notebook outside the
    book, pass ``inline_bundle=True``: the first chart then carries the bundle itself.
    """
    global _bundle_inlined
    _bundle_inlined = False
    if RENDERER_NAME not in alt.renderers.names():
        alt.renderers.register(RENDERER_NAME, offline_renderer)
    alt.renderers.enable(RENDERER_NAME, inline_bundle=inline_bundle)


def preset_names() -> list[str]:
    """Names of the presets (:data:`hashlib_nn.experiments.presets.PRESETS`) a chart title may
    name."""
    from hashlib_nn.experiments.presets import PRESETS

    return list(PRESETS)


def names_preset(title: str, presets: Sequence[str] | None = None) -> str | None:
    """The first preset name that ``title`` names as a whole word, else ``None``.

    >>> names_preset("Redundancy ratio vs width (mnist, quick)", ["quick", "standard"])
    'quick'
    >>> names_preset("Quickly falling ratios", ["quick"]) is None
    True
    """
    for name in presets if presets is not None else preset_names():
        if re.search(rf"(?<![\w-]){re.escape(name)}(?![\w-])", title, flags=re.IGNORECASE):
            return name
    return None


def chart_title(text: str, *, preset: str, dataset: str | None = None) -> str:
    """``text`` with the data set and preset appended, unless it already names the preset.

    >>> chart_title("Redundancy ratio vs width", preset="quick", dataset="mnist")
    'Redundancy ratio vs width (mnist, quick)'
    >>> chart_title("Bucket sizes (mnist, standard preset)", preset="standard")
    'Bucket sizes (mnist, standard preset)'
    """
    if not isinstance(preset, str) or not preset.strip():
        raise ValueError(f"chart_title: preset must name the preset of the runs; got {preset!r}")
    if names_preset(text, [preset]) is not None:
        return text
    where = f"{dataset}, {preset}" if dataset else preset
    return f"{text} ({where})" if text else where


def _require_columns(frame: pd.DataFrame, what: str, columns: Sequence[str | None]) -> None:
    missing = [c for c in columns if c is not None and c not in frame.columns]
    if missing:
        raise ValueError(
            f"line_chart: {what} has no column(s) {missing}; its columns are {list(frame.columns)}"
        )


def line_chart(
    df: pd.DataFrame,
    x: str,
    y: str,
    *,
    color: str | None = None,
    band: tuple[str, str] | None = None,
    reference: pd.DataFrame | None = None,
    log_x: bool = False,
    preset: str | None,
    dataset: str | None = None,
    title: str = "",
    x_title: str | None = None,
    y_title: str | None = None,
    width: int = 400,
    height: int = 260,
) -> alt.LayerChart:
    """Our mean curve (line and points), an optional band, and the paper's values as markers.

    Parameters
    ----------
    df
        Our results, one row per point of the curve (already aggregated over repeats).
    x, y
        Column names of the swept quantity and of the mean value.
    color
        Optional column that splits the curves (e.g. ``"width"`` or ``"split"``).
    band
        Optional ``(lo, hi)`` column names drawn as a shaded band (e.g. min/max over repeats).
    reference
        Optional paper values, drawn as hollow diamonds: columns named like ``x`` and ``y``
        (and ``color``, when given), or the ``x``/``value`` columns of
        ``hashlib_nn.reference.paper_values``.
    log_x
        Logarithmic x axis (sample size, epochs).
    preset, dataset
        Required: the preset the runs come from, appended to ``title`` with the data set
        (:func:`chart_title`) unless the title names it already. ``None`` only for a panel of a
        composite chart whose own title names the preset.

    Raises ``ValueError`` naming the missing column, or when there are more than 5,000 rows.
    """
    _require_columns(df, "df", [x, y, color, *(band or ())])
    if band is not None and len(band) != 2:
        raise ValueError(f"line_chart: band must be a pair (lo, hi) of columns; got {band!r}")
    if reference is not None:
        # The paper's table (hashlib_nn.reference.paper_values) names its columns x and value.
        reference = reference.rename(
            columns={
                **({"x": x} if x not in reference.columns else {}),
                **({"value": y} if y not in reference.columns else {}),
            }
        )
        _require_columns(reference, "reference", [x, y, color])
    n_rows = len(df) + (0 if reference is None else len(reference))
    if n_rows > MAX_ROWS:
        raise ValueError(
            f"line_chart: {n_rows} rows is more than altair's {MAX_ROWS}; aggregate over "
            f"repeats first (one row per {x}{'/' + color if color else ''})"
        )

    source_field = "source"
    ours_label, paper_label = "this book", "paper (digitized)"
    if reference is not None and reference.empty:
        reference = None  # no paper values: no paper layer and no paper entry in the legend
    domain = [ours_label] if reference is None else [ours_label, paper_label]
    shape_scale = alt.Scale(domain=domain, range=["circle", "diamond"][: len(domain)])
    shape_legend = alt.Legend(title=None, labelLimit=200)
    x_scale = alt.Scale(type="log", nice=False) if log_x else alt.Scale(zero=False)
    x_enc = alt.X(f"{x}:Q", title=x_title or x, scale=x_scale)
    y_enc = alt.Y(f"{y}:Q", title=y_title or y)
    color_enc: Any = alt.Color(f"{color}:N", title=color) if color else alt.Undefined

    keep = [c for c in [x, y, color, *(band or ())] if c is not None]
    ours = df[list(dict.fromkeys(keep))].assign(**{source_field: ours_label})
    tooltip = [alt.Tooltip(f"{c}:Q" if c != color else f"{c}:N", title=c) for c in keep]
    tooltip.append(alt.Tooltip(f"{source_field}:N", title="source"))

    base = alt.Chart(ours).encode(x=x_enc, color=color_enc)
    layers: list[alt.Chart] = []
    if band is not None:
        lo, hi = band
        layers.append(
            base.mark_area(opacity=0.2).encode(y=alt.Y(f"{lo}:Q", title=y_title or y), y2=f"{hi}:Q")
        )
    layers.append(base.mark_line().encode(y=y_enc))
    layers.append(
        base.mark_point(filled=True, size=30).encode(
            y=y_enc,
            shape=alt.Shape(f"{source_field}:N", scale=shape_scale, legend=shape_legend),
            tooltip=tooltip,
        )
    )
    if reference is not None:
        ref_keep = [c for c in [x, y, color] if c is not None]
        paper = reference[ref_keep].assign(**{source_field: paper_label})
        ref_tooltip = [alt.Tooltip(f"{c}:Q" if c != color else f"{c}:N", title=c) for c in ref_keep]
        ref_tooltip.append(alt.Tooltip(f"{source_field}:N", title="source"))
        layers.append(
            alt.Chart(paper)
            .mark_point(filled=False, size=70, strokeWidth=1.5)
            .encode(
                x=x_enc,
                y=y_enc,
                color=color_enc,
                shape=alt.Shape(f"{source_field}:N", scale=shape_scale, legend=shape_legend),
                tooltip=ref_tooltip,
            )
        )
    chart = alt.layer(*layers).properties(width=width, height=height)
    if preset is not None:
        title = chart_title(title, preset=preset, dataset=dataset)
    if title:
        chart = chart.properties(title=title)
    return chart


def bucket_size_chart(buckets: pd.DataFrame, *, preset: str, dataset: str | None = None,
                      title: str = "Bucket sizes, training codes",
                      width: int = 400, height: int = 220) -> alt.Chart:
    """Bars of how many codes are shared by 1, 2, 3, ... examples (log scale), from
    :func:`hashlib_nn.analysis.bucket_size_table` (columns bucket_size, n_codes, n_examples,
    share_of_examples). The title names ``dataset`` and ``preset`` (:func:`chart_title`)."""
    title = chart_title(title, preset=preset, dataset=dataset)
    _require_columns(buckets, "buckets", ["bucket_size", "n_codes", "n_examples",
                                          "share_of_examples"])
    return alt.Chart(buckets).mark_bar().encode(
        x=alt.X("bucket_size:O", title="training examples sharing a code (bucket size)",
                axis=alt.Axis(labelAngle=0)),
        y=alt.Y("n_codes:Q", scale=alt.Scale(type="log", domainMin=0.5),
                title="codes (log scale)"),
        y2=alt.datum(0.5),  # bars start below 1: a log scale has no 0
        tooltip=["bucket_size", "n_codes", "n_examples",
                 alt.Tooltip("share_of_examples", format=".2%")],
    ).properties(width=width, height=height, title=title)


def firing_rate_chart(firing: pd.DataFrame, *, preset: str, dataset: str | None = None,
                      title: str = "Firing rates of the hidden units",
                      width: int = 400, height: int = 220) -> alt.Chart:
    """Histogram of per-unit firing rates, from
    :func:`hashlib_nn.analysis.firing_rate_histogram` (columns rate_from, rate_to, n_units).
    The title names ``dataset`` and ``preset`` (:func:`chart_title`)."""
    title = chart_title(title, preset=preset, dataset=dataset)
    _require_columns(firing, "firing", ["rate_from", "rate_to", "n_units"])
    return alt.Chart(firing).mark_bar().encode(
        x=alt.X("rate_from:Q", bin="binned", title="firing rate (share of training examples)",
                scale=alt.Scale(domain=[0, 1])),
        x2="rate_to:Q",
        y=alt.Y("n_units:Q", title="units"),
        tooltip=["rate_from", "rate_to", "n_units"],
    ).properties(width=width, height=height, title=title)
