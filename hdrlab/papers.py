"""The papers' published tables, as data, for printing beside the course's own numbers.

Each chapter reproduces a method on other data and at another scale than its
paper, so the two are never comparable one to one; printing the paper's table
next to ours shows what the method reached where it was published. Every table
carries its citation and a ``paper: <dataset>, <scale>`` label. Figures are
transcribed as published (strings, so ``19.577`` and ``53.86 ± 4.46`` keep their
precision); ``"-"`` marks a cell the paper leaves empty.

Example:
    >>> print(paper_table("recursive", 2).splitlines()[0])
    Kim, Lee & Kang, AAAI 2021, Table 2 (stack reconstruction, mean ± std over the three recursive steps) -- paper: VDS test set, 256 x 256
    >>> sorted(TABLES)[:2]
    [('hybrid', 1), ('metahdr', 1)]

Taught in: notebooks/02_metahdr.ipynb, notebooks/03_multi_exposure_generation.ipynb,
notebooks/04_differentiable_recursion.ipynb, notebooks/05_hybrid_autoencoder.ipynb
"""

from __future__ import annotations

from dataclasses import dataclass

from hdrlab.errors import ChoiceError, describe

__all__ = ["PaperTable", "CITATIONS", "TABLES", "paper_table"]

#: The paper behind each chapter's method, as cited in its notebook.
CITATIONS = {
    "metahdr": "Pan & Vento, MetaHDR: Model-Agnostic Meta-Learning for HDR Image Reconstruction, arXiv:2103.12545",
    "multiexposure": "Le, Le, Nguyen & Hua, Single-Image HDR Reconstruction by Multi-Exposure Generation, "
                     "WACV 2023, arXiv:2210.15897",
    "recursive": "Kim, Lee & Kang, End-to-End Differentiable Learning to HDR Image Synthesis for Multi-exposure "
                 "Images, AAAI 2021",
    "hybrid": "Demirci & Dere, Single LDR image to HDR translation, project report (poster)",
}
_SHORT = {"metahdr": "Pan & Vento, arXiv 2021", "multiexposure": "Le et al., WACV 2023",
          "recursive": "Kim, Lee & Kang, AAAI 2021", "hybrid": "Demirci & Dere, poster"}


@dataclass(frozen=True)
class PaperTable:
    """One published table: its number and title in the paper, where it was measured, columns and rows."""

    method: str  #: the chapter's method module: a key of :data:`CITATIONS`
    number: int  #: the table's number in the paper
    title: str
    label: str  #: ``"paper: <dataset>, <scale>"``
    columns: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]


_METAHDR = "paper: Jang et al. LDR-HDR meta-test split, 45 scenes, 512 x 512 crops"
_LE = "paper: Endo et al. (DrTMO) synthetic test set, 5 DoRF curves, EV -2..+2 merged by Photomatix"
_KIM = "paper: VDS test set, 256 x 256"

_ALL = (
    PaperTable("metahdr", 1, "labelling schemes; columns: labels used in meta-training", _METAHDR,
               ("row", "SSIM true", "SSIM simulated", "PSNR dB true", "PSNR dB simulated"),
               (("LDR, no reconstruction", "0.489", "(same)", "12.200", "(same)"),
                ("single shot", "0.666", "0.687", "19.577", "19.713"),
                ("adaptation with true HDR", "0.683", "0.701", "19.967", "20.125"),
                ("adaptation with simulated HDR", "0.687", "0.698", "19.753", "19.790"),
                ("pretrained HDR-CNN (in the text)", "0.704", "-", "18.072", "-"))),
    PaperTable("metahdr", 2, "loss functions, after adaptation with HDR-CNN-simulated labels", _METAHDR,
               ("loss", "SSIM true", "SSIM simulated", "PSNR dB true", "PSNR dB simulated"),
               (("LDR, no reconstruction", "0.489", "-", "12.200", "-"),
                ("ExpandNet loss", "0.687", "0.698", "19.753", "19.790"),
                ("LPIPS", "0.362", "0.262", "8.006", "9.226"),
                ("LPIPS + L1", "0.491", "0.200", "16.122", "8.869"))),
    PaperTable("multiexposure", 2, "HDR images; * = pretrained on HDR-SYNTH", _LE,
               ("method", "PSNR", "SSIM", "LPIPS", "HDR-VDP-2"),
               (("Lee et al. (Deep Recursive HDRI)", "19.56", "0.7920", "0.2096", "53.86 ± 4.46"),
                ("Endo et al. (DrTMO)", "21.60", "0.8493", "0.1592", "54.56 ± 4.29"),
                ("Liu et al. (SingleHDR)", "19.77", "0.7832", "0.2001", "52.77 ± 5.40"),
                ("Liu et al.*", "21.58", "0.8333", "0.1427", "56.42 ± 4.50"),
                ("Le et al.", "23.74", "0.8916", "0.1231", "55.69 ± 5.01"))),
    PaperTable("multiexposure", 3, "tone-mapped: Reinhard & Devlin 2005 (R) and Photomatix (P)", _LE,
               ("method", "PSNR R", "SSIM R", "LPIPS R", "PSNR P", "SSIM P", "LPIPS P"),
               (("Lee et al.", "22.68", "0.9017", "0.1438", "21.42", "0.8730", "0.1785"),
                ("Endo et al.", "27.19", "0.9419", "0.1289", "22.20", "0.8944", "0.1642"),
                ("Liu et al.", "23.22", "0.8954", "0.1400", "19.90", "0.8548", "0.1651"),
                ("Liu et al.*", "26.19", "0.9135", "0.0969", "23.89", "0.8856", "0.1236"),
                ("Le et al.", "29.68", "0.9586", "0.0617", "25.22", "0.9370", "0.0933"))),
    PaperTable("multiexposure", 4, "ablation: two exposure nets, HDR representation loss", _LE,
               ("two nets", "HDR loss", "HDR PSNR", "HDR SSIM", "HDR LPIPS", "HDR-VDP-2", "Reinhard PSNR",
                "Reinhard SSIM", "Reinhard LPIPS", "Photomatix PSNR", "Photomatix SSIM", "Photomatix LPIPS"),
               (("no", "no", "17.51", "0.5068", "0.3169", "52.41 ± 5.54", "15.99", "0.7764", "0.2421", "19.04",
                 "0.8009", "0.2585"),
                ("no", "yes", "14.48", "0.4068", "0.3464", "50.98 ± 5.43", "14.41", "0.7571", "0.2107", "17.10",
                 "0.7804", "0.2359"),
                ("yes", "no", "23.05", "0.8868", "0.1192", "56.68 ± 4.81", "29.29", "0.9608", "0.0580", "25.19",
                 "0.9396", "0.0873"),
                ("yes", "yes", "23.74", "0.8916", "0.1231", "55.69 ± 5.01", "29.68", "0.9586", "0.0617", "25.22",
                 "0.9370", "0.0933"))),
    PaperTable("multiexposure", 5, "HDR encoding net N1, masked over/under-exposure", _LE,
               ("masked", "PSNR", "SSIM", "LPIPS"),
               (("no", "16.62", "0.8423", "0.1681"), ("yes", "16.67", "0.8581", "0.1391"))),
    PaperTable("recursive", 1, "HDR-VDP-2 (0.5 m, BT.709, 24 inch), mean m and std s",
               "paper: VDS and HDR-Eye test sets, 256 x 256",
               ("method", "VDS m", "VDS s", "HDR-Eye m", "HDR-Eye s"),
               (("Kim et al.", "63.481", "4.401", "61.545", "2.787"),
                ("HDRCNN", "45.851", "7.087", "48.629", "1.278"),
                ("DrTMO", "51.162", "3.845", "51.416", "6.576"),
                ("Deep recursive HDRI", "58.193", "4.792", "54.355", "4.072"),
                ("ExpandNet", "52.028", "4.001", "58.887", "2.761"),
                ("SingleHDR", "53.462", "3.866", "59.681", "4.352"))),
    PaperTable("recursive", 2, "stack reconstruction, mean ± std over the three recursive steps", _KIM,
               ("relative EV", "method", "PSNR", "SSIM", "MS-SSIM"),
               (("+1", "Kim et al.", "30.292 ± 3.725", "0.952 ± 0.050", "0.989 ± 0.009"),
                ("+1", "Deep recursive HDRI", "30.142 ± 2.873", "0.955 ± 0.036", "0.986 ± 0.010"),
                ("-1", "Kim et al.", "30.403 ± 3.601", "0.940 ± 0.038", "0.985 ± 0.011"),
                ("-1", "Deep recursive HDRI", "30.483 ± 3.836", "0.936 ± 0.044", "0.982 ± 0.014"))),
    PaperTable("recursive", 3, "ablation, cumulative", _KIM,
               ("configuration", "HDR-VDP-2", "PSNR dB", "SSIM"),
               (("baseline U-Net", "53.436 ± 5.300", "25.864 ± 3.013", "0.909 ± 0.051"),
                ("+ recurrent network", "56.505 ± 5.572", "27.652 ± 3.189", "0.927 ± 0.043"),
                ("+ conditional instance normalisation", "57.235 ± 5.110", "27.996 ± 2.779", "0.924 ± 0.052"),
                ("+ image decomposition", "58.884 ± 6.627", "28.542 ± 3.500", "0.926 ± 0.054"),
                ("+ differentiable HDR synthesis layer", "62.408 ± 4.053", "29.592 ± 3.596", "0.933 ± 0.052"),
                ("+ contextual bilateral loss", "63.481 ± 4.401", "30.347 ± 3.663", "0.946 ± 0.044"))),
    PaperTable("hybrid", 1, "validation scores in the log1p + per-image min-max domain (definitions not given)",
               "paper: SingleHDR real pairs, validation split", ("PSNR", "SSIM", "L1"),
               (("14.0585", "0.8157", "0.6976"),)),
)

#: Every table by ``(method, number)``.
TABLES: dict[tuple[str, int], PaperTable] = {(table.method, table.number): table for table in _ALL}


def paper_table(method: str, number: int) -> str:
    """A published table as text: a title line (paper, table number, what it shows, the label), then the grid.

    Args:
        method: ``"metahdr"``, ``"multiexposure"``, ``"recursive"`` or ``"hybrid"``.
        number: the table's number in that paper (see :data:`TABLES`).

    Raises:
        ChoiceError: no such table.
    """
    table = TABLES.get((method, number))
    if table is None:
        raise ChoiceError(describe("a (method, table number) of hdrlab.papers.TABLES", repr((method, number)),
                                   f"Pick one of {sorted(TABLES)}."))
    grid = [table.columns, *table.rows]
    widths = [max(len(line[i]) for line in grid) for i in range(len(table.columns))]
    lines = ["  ".join(cell.ljust(width) if i == 0 else cell.rjust(width)
                       for i, (cell, width) in enumerate(zip(line, widths))).rstrip() for line in grid]
    head = f"{_SHORT[method]}, Table {number} ({table.title}) -- {table.label}"
    return "\n".join([head, *lines])
