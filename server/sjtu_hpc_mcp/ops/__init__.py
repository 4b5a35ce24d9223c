"""Use cases: one module each. A use case decides with the core (rules, argv, parsers, wording) and acts
through the shell (SSH, SFTP, HTTP, files, processes); it never imports the MCP SDK. What it needs from the
conversation (progress, the client's shared folders, sending the person to a page) comes as a `Person`
(talk.py), built by the tools layer from the call.

  jobs.py             run_slurm: query, seff, sbatch (journal, reconcile, notify), scancel, job output, wait
  modules.py          run_slurm modules (Lmod avail, spider) and sbatch's check of a script's module loads
  since.py            run_slurm since: jobs submitted here that ended since the person last asked
  transfers.py        transfer_data on a data node: plan, space, quota, consent, launch, status, cancel, list
  local_transfers.py  transfer_data with one end on this computer (SFTP in the server process)
  storage.py          manage_storage: list, usage, free, mkdir, remove
  files.py            manage_storage read and stat: a file's head, tail or matching lines; its stat
  quota.py            the person's quota beside a transfer or storage act (bounded)
  credentials.py      credential_status, request_token, request_certificate (two-factor approvals)
  export.py           request_certificate's export_to: key, certificate and ssh config on the person's disk
  account.py          get_user, query_quota, update_user
  talk.py             Person, Progress, Roots, Asked: what a use case needs from the call
"""
