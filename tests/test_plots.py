"""Figures (bench/plots.py): PNG and SVG, editors in table order (reference, M, P), n in the titles."""

from __future__ import annotations

from bench.plots import bar_charts, curve_plots, metric_figure, ordered, overview_figure

METRICS = ("Rel", "Gen", "Loc", "Por_hop", "Score", "H")


def _record(editor: str, value: float, n: int = 50) -> dict:
    rec = {"editor": editor, "dataset": "counterfact", "model": "m", "protocol": "single", "n_cases": str(n)}
    for m in METRICS:
        rec[m], rec[f"{m}_lo"], rec[f"{m}_hi"] = value, value - 3, value + 3
    return rec


RECORDS = [_record("ike", 70), _record("rome", 90), _record("noedit", 10), _record("ft-m", 60)]


def test_editors_are_ordered_by_group_then_the_papers_order():
    assert [(g, r["editor"]) for g, r in ordered(RECORDS)] == [
        ("reference", "noedit"), ("M", "ft-m"), ("M", "rome"), ("P", "ike")]


def test_bar_charts_write_an_overview_and_one_chart_per_metric_as_png_and_svg(tmp_path):
    written = bar_charts(RECORDS, tmp_path)
    names = {p.name for p in written}
    assert {"overview.png", "overview.svg", "Rel.png", "Rel.svg", "H.svg"} <= names
    assert all(p.stat().st_size > 1000 for p in written)
    assert "noedit (reference)" in (tmp_path / "overview.svg").read_text()  # SVG text stays text


def test_figures_name_the_case_count_and_mark_the_reference():
    fig = overview_figure(RECORDS)
    ax = fig.axes[0]
    assert "n = 50 cases" in ax.get_title()
    assert [t.get_text() for t in ax.get_yticklabels()] == ["noedit (reference)", "ft-m", "rome", "ike"]
    labels = [t.get_text() for t in ax.texts]
    assert labels[:len(METRICS)] == ["10.0"] * len(METRICS)  # the values are written in the cells
    bars = metric_figure(RECORDS + [_record("rome", 80, n=20)], "Loc")
    assert "n = 20–50" in bars.axes[0].get_title()
    assert bars.axes[0].patches[0].get_hatch() == "//"  # the reference bar


def test_several_datasets_get_one_set_of_figures_each(tmp_path):
    other = [{**r, "dataset": "zsre"} for r in RECORDS]
    names = {p.name for p in bar_charts(RECORDS + other, tmp_path)}
    assert {"overview-counterfact.png", "overview-zsre.png", "Rel-zsre.svg"} <= names


def test_sequential_curves_are_a_grid_with_the_final_value_labelled(tmp_path):
    curve = [{"editor": e, "n_edits": n, **{m: v - n / 10 for m in METRICS}}
             for e, v in (("rome", 90), ("noedit", 20)) for n in (10, 20, 30)]
    written = curve_plots(curve, tmp_path, "cf: sequential")
    assert {p.name for p in written} == {"sequential_curve.png", "sequential_curve.svg"}
    svg = (tmp_path / "sequential_curve.svg").read_text()
    assert "noedit (reference)" in svg and ">87<" in svg  # rome's final Rel (90 - 3), written at its point


def test_a_value_outside_its_interval_draws_no_negative_error_bar(tmp_path):
    """H and Score are computed from means, so they can lie outside their own bootstrap interval (seen with a
    10-resample bootstrap): matplotlib refuses negative error lengths, which stopped a run while plotting."""
    odd = {**_record("rome", 50), "H_lo": 52.0, "H_hi": 60.0}  # the value below its interval
    fig = metric_figure([odd, _record("noedit", 10)], "H")
    lines = [c for c in fig.axes[0].collections if c.get_segments()]
    rome = [seg for c in lines for seg in c.get_segments() if seg[0][0] == 1][0]  # rome is the second bar
    assert rome[0][1] == 50.0 and rome[1][1] == 60.0  # from the value up to hi, nothing below
    assert bar_charts([odd], tmp_path)


def test_an_inlined_figure_is_a_palette_png_that_looks_like_the_full_colour_one_and_is_stable():
    import io

    import matplotlib.pyplot as plt
    import numpy as np
    from PIL import Image

    from bench.plots import png_bytes

    full = io.BytesIO()
    fig = overview_figure(RECORDS)
    fig.savefig(full, dpi=100, format="png")
    plt.close(fig)
    compact = png_bytes(overview_figure(RECORDS))
    assert compact == png_bytes(overview_figure(RECORDS))  # same figure, same bytes
    assert len(compact) < 0.6 * len(full.getvalue())
    image = Image.open(io.BytesIO(compact))
    assert image.mode == "P"
    reference = np.asarray(Image.open(io.BytesIO(full.getvalue())).convert("RGB"), dtype=float)
    assert image.size == (reference.shape[1], reference.shape[0])
    assert np.abs(np.asarray(image.convert("RGB"), dtype=float) - reference).mean() < 2.0  # out of 255


def test_saved_figures_are_palette_pngs_beside_their_svg(tmp_path):
    """results/ keeps figures under its 20 MB: the full-colour PNGs it held were three times their palette size."""
    from PIL import Image

    from bench.plots import save_figure

    written = save_figure(overview_figure(RECORDS), tmp_path / "overview")
    assert [p.name for p in written] == ["overview.png", "overview.svg"]
    assert Image.open(written[0]).mode == "P"
    assert "noedit (reference)" in written[1].read_text()
