"""The course as a product: run the notebooks, release the student edition, grade submissions.

``python -m hdrlab course`` executes the notebooks with papermill
(:mod:`hdrlab.course.run`), ``python -m hdrlab release`` writes the student edition
(:mod:`hdrlab.course.release`), and ``python -m hdrlab grade`` grades submitted
notebooks with nbval against the teacher edition (:mod:`hdrlab.course.grade`). All
three read and write notebooks through one layer, :mod:`hdrlab.course.notebook`
(cell roles, chapter ids, solution regions, cleaning); :mod:`hdrlab.course.colab`
generates the one Colab install cell every notebook starts with. A learner's notebook only
calls :func:`record` from here; the checkers it calls live in :mod:`hdrlab.checks`.
The submodules ``grade``, ``release`` and ``run`` are named after their main
function (``course.grade.grade``, ``course.release.release``).

Example:
    >>> from hdrlab import course
    >>> [p.name for p in course.find_notebooks(only=["01"])]
    ['01_camera_pipeline_debevec.ipynb']
"""

from hdrlab.course import grade, notebook, release, run
from hdrlab.course.notebook import clean_notebook
from hdrlab.course.release import relink
from hdrlab.course.run import (
    METRICS_MIME,
    NotebookResult,
    find_notebooks,
    format_table,
    record,
    run_course,
    run_notebook,
)

__all__ = [
    "grade", "notebook", "release", "run", "METRICS_MIME", "NotebookResult", "record", "find_notebooks",
    "run_notebook", "run_course", "format_table", "relink", "clean_notebook",
]
