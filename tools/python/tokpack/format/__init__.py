"""The on-disk layout, one module per part of spec/FORMAT.md.

- ``layout``: conventions and page arithmetic (sections 1 and 2)
- ``header``: the 64-byte header (section 3)
- ``section_table``: the section table and its kinds (section 4)
- ``tokens``, ``doc_offsets``, ``loss_mask``, ``metadata``: the sections (5.1 to 5.4)
- ``doc_sources``: DOC_SOURCES (5.5)
- ``zstd_blocks``: compressed TOKENS, codec 1 (5.6), its open-time checks, its
  block-by-block reading with a per-process cache, and its verify pass
- ``plan_metadata``: a plan file's metadata (11.1)
- ``plan_sections``: PLAN_ROWS and PLAN_SEGMENTS (11.2, 11.3) and their checks
- ``overlay_metadata``: an overlay file's metadata (13.1)
- ``overlay_sections``: INS_POSITIONS, INS_OFFSETS, INS_TOKENS, INS_FLAGS (13) and
  their checks (13.2 steps 3 to 5, the row checks, 13.3)
"""
