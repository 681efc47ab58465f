"""The command line, one module per job: ``python -m lstmviz.train <kind> ...`` and ``lstmviz dashboard``.

:mod:`lstmviz.train` assembles the training command from these modules and maps errors to exit codes;
:mod:`lstmviz.__main__` is the ``lstmviz`` console script. Each job is two functions, importable without side
effects (the trainers are imported when a job runs):

* ``add_<job>_arguments(parser)``: that job's flags and their help, nothing else (argparse refuses the rest);
* ``check_<job>(args)``: the refusals that depend on a value (``--task``, ``--cell``, the stored checkpoint);
* ``run_<job>(args)``: train, or run the study, and write the results.

Modules: :mod:`~lstmviz.cli.classifier` (the ``recurrent`` and ``bow`` kinds, ``compare``, ``resume``),
:mod:`~lstmviz.cli.charlm`, :mod:`~lstmviz.cli.tagger`, :mod:`~lstmviz.cli.sweep`, :mod:`~lstmviz.cli.study`,
:mod:`~lstmviz.cli.dashboard`, :mod:`~lstmviz.cli.legacy` (the old ``--task`` form, answered with the new command)
and :mod:`~lstmviz.cli.common` (the parser class and the flags several jobs share).
"""
