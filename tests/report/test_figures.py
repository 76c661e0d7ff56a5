"""The figures: present when they apply, non-blank, reproducible, and safe with any task name."""

from __future__ import annotations

import numpy as np
import pytest
from matplotlib import colormaps

from tests.conftest import accuracy_rows
from tests.report.conftest import XSS_TASKS, analyse_into, write_rows
from tests.report.helpers import assert_pdf, assert_png_not_blank
from vlmtransfer.report import ReportOptions, figure_specs, load_report_data
from vlmtransfer.report.figures import model_slugs, render_figure
from vlmtransfer.report.figures.heatmaps import off_diagonal_limit
from vlmtransfer.report.figures.style import DIVERGING, pgf_norm
from vlmtransfer.report.figures.summaries import significance_stars

FAST = ReportOptions(formats=("png",), dpi=60)


def _spec(data, name, options=FAST):
    specs = {s.name: s for s in figure_specs(data, options)}
    return specs[name]


def _render(data, name, options=FAST):
    return render_figure(_spec(data, name, options), options, preview_dpi=None)


def test_the_reference_analysis_has_every_figure_of_the_paper(paper_analysis):
    data = load_report_data(paper_analysis)
    names = [s.name for s in figure_specs(data, ReportOptions())]
    per_model = ["pgf_heatmap", "pgf_std", "transfer_graph", "cliques", "categories"]
    expected = ["pgf_panel"] + [f"{kind}_{m}" for m in ("3B", "7B", "32B") for kind in per_model]
    assert names == [*expected, "scale_trend", "personas", "baseline_accuracy"]


@pytest.mark.parametrize("name", ["pgf_panel", "transfer_graph_7B", "cliques_32B"])
def test_reference_figures_are_drawn(paper_analysis, name):
    figure = _render(load_report_data(paper_analysis), name)
    assert figure is not None
    assert_png_not_blank(figure.files["png"])


def test_figures_are_reproducible_to_the_byte(accuracy_analysis):
    data = load_report_data(accuracy_analysis)
    options = ReportOptions(formats=("png", "pdf", "svg"), dpi=60)
    first = _render(data, "pgf_heatmap_small", options)
    second = _render(data, "pgf_heatmap_small", options)
    assert first.files == second.files
    assert_pdf(first.files["pdf"])
    assert first.files["svg"].startswith(b"<?xml")


def test_figures_that_do_not_apply_are_absent(paper_analysis, accuracy_analysis, tmp_path):
    assert _render(load_report_data(paper_analysis), "baseline_accuracy") is None  # PGF inputs: no accuracies
    with_baselines = _render(load_report_data(accuracy_analysis), "baseline_accuracy")
    assert_png_not_blank(with_baselines.files["png"])
    one_seed = write_rows(tmp_path / "one.csv", accuracy_rows(seeds=("0",), tasks=("A", "B", "C")))
    single = load_report_data(analyse_into(tmp_path / "analysis", [one_seed]))
    assert _render(single, "pgf_std_m") is None  # std across one seed is undefined
    assert _render(single, "scale_trend") is None  # a trend needs two models
    assert _render(single, "categories_m") is None  # unknown tasks have no category


def test_task_names_are_text_never_mathtext_or_markup(hostile_analysis):
    data = load_report_data(hostile_analysis)
    slug = model_slugs(data.model_order)[data.model_order[0]]
    options = ReportOptions(formats=("svg",), annotate_limit=0)
    svg = _render(data, f"pgf_heatmap_{slug}", options).files["svg"].decode()
    assert "$\\frac{unbalanced" in svg  # printed as typed, and an unbalanced $ does not fail
    assert "&lt;img src=x onerror=" in svg  # XML-escaped by the SVG writer
    graph = _render(data, f"transfer_graph_{slug}", ReportOptions(formats=("svg",))).files["svg"].decode()
    assert "&lt;img = &lt;img src=x onerror=" in graph  # a cut node label is spelt out in the legend
    assert len(set(model_slugs(["a/b", "a b", "a_b", "<>"]).values())) == 4


def test_the_colour_scale_is_centred_on_zero_and_ignores_self_transfer(paper_analysis):
    norm = pgf_norm(0.4)
    assert (norm(-0.4), norm(0.0), norm(0.4)) == (0.0, 0.5, 1.0)
    assert min(colormaps[DIVERGING](norm(0.0))[:3]) > 0.95  # zero is (near) white
    models = list(load_report_data(paper_analysis).models.values())
    values = np.concatenate(
        [np.abs(m.pgf_mean.to_numpy()[~np.eye(len(m.sources), dtype=bool)]) for m in models]
    )
    assert off_diagonal_limit(models) == pytest.approx(np.quantile(values, 0.98))
    assert off_diagonal_limit(models) < 0.83  # 3B's diagonal has 0.83; it must not set the scale


def test_significance_stars():
    assert [significance_stars(p) for p in (0.0001, 0.005, 0.04, 0.2, float("nan"))] == [
        "***",
        "**",
        "*",
        "",
        "",
    ]


def test_options_are_validated():
    with pytest.raises(ValueError, match="order: must be one of"):
        ReportOptions(order="random")
    with pytest.raises(ValueError, match="formats: must be one of png, pdf, svg; got 'jpg'"):
        ReportOptions(formats=("jpg",))
    with pytest.raises(ValueError, match="dpi: must be in"):
        ReportOptions(dpi=5)
    with pytest.raises(ValueError, match="nothing to write"):
        ReportOptions(figures=False, html=False)
    assert XSS_TASKS  # the hostile fixture's names are shared with the browser test


def _drawn(spec):
    """The figure of ``spec`` with its layout done, so that extents are final."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    figure = spec.draw()
    FigureCanvasAgg(figure).draw()
    return figure


def _inside(inner, outer) -> bool:
    return outer.x0 <= inner.x0 and inner.x1 <= outer.x1 and outer.y0 <= inner.y0 and inner.y1 <= outer.y1


def test_persona_stars_stay_inside_their_axes_and_legends_below(paper_analysis):
    figure = _drawn(_spec(load_report_data(paper_analysis), "personas"))
    renderer = figure.canvas.get_renderer()
    for ax in figure.axes:
        frame = ax.get_window_extent(renderer)
        stars = [text for text in ax.texts if set(text.get_text()) == {"*"}]
        assert all(_inside(star.get_window_extent(renderer), frame) for star in stars), ax.get_title()
        assert ax.get_legend().get_window_extent(renderer).y1 <= frame.y0, "the legend covers the plot"
    assert sum(len(ax.texts) for ax in figure.axes) > 5


def test_baseline_figure_has_chance_lines_and_no_empty_error_bars(accuracy_analysis):
    figure = _drawn(_spec(load_report_data(accuracy_analysis), "baseline_accuracy"))
    (ax,) = figure.axes
    chance = [c for c in ax.collections if c.get_label() == "chance"]
    assert len(chance) == 1
    assert not ax.containers[0].errorbar  # one baseline for every seed: no std, no error caps


def test_category_figure_has_a_colour_bar_and_all_in_every_panel(paper_analysis):
    figure = _drawn(_spec(load_report_data(paper_analysis), "categories_7B"))
    panels = [ax for ax in figure.axes if ax.get_title()]
    assert len(figure.axes) == len(panels) + 1  # the colour bar
    for ax in panels:
        ticks = [
            t.get_text()
            for t in (ax.get_yticklabels() if "malleability" in ax.get_title() else ax.get_xticklabels())
        ]
        assert ticks[-1] == "all", ax.get_title()


@pytest.mark.parametrize("name", ["pgf_heatmap_7B", "pgf_std_7B", "pgf_panel"])
def test_heatmaps_carry_a_key_for_their_abbreviations(paper_analysis, name):
    figure = _spec(load_report_data(paper_analysis), name).draw()
    key = figure.get_supxlabel()
    assert "RD\u00a0Relative_Depth" in key
    assert "VC\u00a0Visual_Correspondence" in key
    assert "perceptual level" in key
