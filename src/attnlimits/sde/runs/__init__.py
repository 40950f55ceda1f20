"""Runners of experiment ``sde``: one module per kind of job (docs/mathematics.md, ``sde``; SCHEMA
of stores).

Each runner ``run_<kind>`` takes the job's plain ``spec`` and a torch device, composes the library
pieces of ``attnlimits.sde`` and returns the Dataset of its store: named dims, coordinates,
``long_name`` and ``units`` on every variable, the scalar parameters of the schema as attrs.
Provenance is added and the file written by the caller. The same spec gives bit-identical
datasets (every draw comes from a keyed stream of ``attnlimits.seeding``; the computation order
does not depend on timing).

* ``depth.run_depth``: the L-layer model against the infinite-width reference with ``fine`` layers.
* ``width.run_width``: the width-m model against the infinite-width field, same normals ξ.
* ``chaos.run_chaos``: W2² between N tokens and a reference of N_ref tokens in one field.
* ``sync.run_sync``: interaction energy over paths, two-point Lyapunov run, pictures.
* ``kernel_table.run_kernel_table``: κ(1), κ′(1), λ₁, λ̄ over activation × d × σ (a DataFrame).

``common`` holds what several runners share: the progress ticker, the spec's row and its
exponents, the attention of a spec, the row attrs.
"""
