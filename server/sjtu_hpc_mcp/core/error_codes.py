"""The catalogue of error codes: every `E_…` a failure may carry, declared once, with what it means and
the fix shown when a raise site gives none. `HpcError` refuses a code that is not here.

A raise site may give a more specific fix; the default is what the model should do next in general.
tests/unit/test_error_catalogue.py checks that every code raised in server/ is declared here and every
code declared here is raised somewhere.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import MappingProxyType
from typing import Final


@dataclass(frozen=True, slots=True)
class Code:
    meaning: str  # one line: what failed
    fix: str  # the default fix: what to do next


CODES: Final = MappingProxyType(
    {
        # -- the MCP surface -----------------------------------------------------------------------------
        "E_ARG": Code(
            "An argument is missing, malformed, out of range, or does not go with the others.",
            "Correct the argument as the message says, then call the tool again.",
        ),
        "E_INPUT": Code(
            "A task ran a tool that asked the person for input, which a task cannot give.",
            "Call the tool itself.",
        ),
        "E_INTERNAL": Code(
            "A tool failed unexpectedly inside the server (a bug, not a platform failure).",
            "Retry once; if it fails again, tell the person (the server's log on stderr has the details).",
        ),
        "E_READ_ONLY": Code(
            "The act would write where this server may not: it runs --read-only, or the pool is read-only here.",
            "Tell the person; for a read-only pool use transfer_data or manage_storage, which run on a data node.",
        ),
        "E_TOOL": Code(
            "A tool failed with an uncoded message from the MCP SDK (usually about its arguments).",
            "Correct the arguments if the message says how; otherwise retry.",
        ),
        "E_UNKNOWN_TOOL": Code(
            "The called tool does not exist on this server.",
            "Call one of the tools that tools/list shows.",
        ),
        # -- Slurm: run_slurm ----------------------------------------------------------------------------
        "E_COLD_STORAGE": Code(
            "A job refers to cold storage (/archive, /vault, /union), which compute nodes must not use.",
            "Copy the data to hot storage first with transfer_data, then point the job at that copy.",
        ),
        "E_GROUP": Code(
            "The node group is unknown.",
            "Use node_group pi (π 2.0/AI), kp (ARM) or sy (思源一号).",
        ),
        "E_GROUP_NEEDED": Code(
            "The request does not say which cluster (node group) to ask.",
            "Give a partition, or node_group: pi (π 2.0/AI), kp (ARM) or sy (思源一号).",
        ),
        "E_JOBID": Code(
            "A job id is malformed or missing, or there are too many.",
            "Give numeric job ids such as 12345 (or array tasks such as 12345_4), at most 1000 at once.",
        ),
        "E_JOB_GONE": Code(
            "Slurm no longer knows the job (it forgets finished jobs after a few minutes) and no record names it.",
            "Read the file given by the job's --output (default slurm-<id>.out in the folder it was submitted from).",
        ),
        "E_JOB_OUTPUT": Code(
            "A job's output or error file is not known or cannot be read.",
            "Wait until the job starts writing, then try again; scontrol show job names its files.",
        ),
        "E_JOB_PATH": Code(
            "A job's output, error or working folder lies outside the hot storage of its node group.",
            "Put it under the node group's hot storage (e.g. the person's home there), or leave it out.",
        ),
        "E_LOST": Code(
            "The connection to a node was lost before the outcome was known.",
            "Try again; for an act that changes something, first check whether it took effect.",
        ),
        "E_LOST_UNSURE": Code(
            "The connection was lost during sbatch, and whether the job was queued cannot be checked yet.",
            "Do not submit it again yet: in a minute, call squeue or sacct to see whether it was queued.",
        ),
        "E_MEM": Code(
            "A memory size is malformed or out of range.",
            "Give a positive size such as 4G, 500M or 4096 (MB), at most 64T.",
        ),
        "E_MODULES": Code(
            "The node group's login node has no environment modules (Lmod), or `module` failed there.",
            "Tell the person; the software may be installed outside modules (hpc@sjtu.edu.cn knows).",
        ),
        "E_NO_EMAIL": Code(
            "No usable email is bound to the account, so Slurm cannot mail the person when the job ends.",
            "Bind an email with update_user (two-factor approval), or submit without notify.",
        ),
        "E_PARTITION": Code(
            "A partition name is malformed, or the platform has no such partition.",
            "Use a partition of the platform, e.g. cpu, a100 or debug.",
        ),
        "E_SLURM": Code(
            "A Slurm command ran but failed or gave no usable answer.",
            "Check the arguments (a job id with sacct), then try again.",
        ),
        "E_STATE": Code(
            "A job state filter is not a Slurm job state.",
            "Use a state name or short code, e.g. PENDING (PD), RUNNING (R) or COMPLETED (CD).",
        ),
        "E_TIME": Code(
            "A time limit or point in time is malformed or out of range.",
            "Give a limit as minutes (30) or D-HH:MM:SS, a point as now-<N>hours, today or YYYY-MM-DD[THH:MM].",
        ),
        "E_TIMEOUT": Code(
            "A command on a node did not finish within its time limit.",
            "Try again later, or narrow the request.",
        ),
        "E_USER": Code(
            "A user name is not a valid login name.",
            "Give a login name: lowercase letters, digits, _ and -, starting with a letter or _.",
        ),
        "E_WRONG_GROUP": Code(
            "A partition belongs to another node group than the one the request runs on.",
            "Use the partition's own node_group, or a partition of the node group given.",
        ),
        # -- SSH and the workspace's credentials ---------------------------------------------------------
        "E_AUTH": Code(
            "A node refused the SSH certificate.",
            "Call request_certificate for a new certificate.",
        ),
        "E_CERT": Code(
            "The SSH certificate is damaged, not in OpenSSH format, or of an unsupported type.",
            "Request a new one with request_certificate.",
        ),
        "E_CERT_EXPIRED": Code(
            "The SSH certificate is not valid now.",
            "Call request_certificate for a new one.",
        ),
        "E_CONNECT": Code(
            "A node cannot be reached over SSH.",
            "Check the network (VPN for off-campus access) and try again.",
        ),
        "E_CREDENTIALS": Code(
            "A file in the server's credentials workspace cannot be read.",
            "Check the workspace folder's owner and permissions.",
        ),
        "E_HOSTKEY": Code(
            "A node's SSH host key cannot be verified: no known_hosts file, or the key is unknown or changed.",
            "Verify the fingerprint with SJTU HPC (hpc@sjtu.edu.cn) before trusting it, then add it to known_hosts.",
        ),
        "E_KEY": Code(
            "The SSH private key is damaged, not in OpenSSH format, or cannot be loaded.",
            "Call request_certificate for a new key pair.",
        ),
        "E_NO_ACCOUNT": Code(
            "The HPC account could not be derived from the person's home folder.",
            "Give the account name.",
        ),
        "E_NO_CERT": Code(
            "There is no SSH key and certificate in the workspace.",
            "Call request_certificate (the person approves it in 交我办 or by email).",
        ),
        "E_NO_TOKEN": Code(
            "There is no API token in the workspace.",
            "Call request_token first.",
        ),
        "E_NO_USER": Code(
            "The HPC username is not known yet (no certificate or token request has named it).",
            "Call request_token with username.",
        ),
        "E_PAGE_PORT": Code(
            "The local password page cannot listen on its address (another page may hold the port).",
            "Finish or wait out the other open password page (10 minutes), or give the server another port.",
        ),
        "E_PASSWORD_FILE": Code(
            "The password file is not a usable absolute path, is missing, or holds more than the password.",
            "Ask the person to upload a text file holding only the password, and give its absolute path.",
        ),
        # -- the HPC API ---------------------------------------------------------------------------------
        "E_API_BAD_REPLY": Code(
            "The HPC API answered in a form the server cannot read, or without what was asked for.",
            "Try again later; if it persists, tell the person the API may have changed.",
        ),
        "E_API_INTERNAL": Code(
            "The HPC API had an internal error (HTTP 500).",
            "Write to hpc@sjtu.edu.cn with the session ID (or the time of the failure) and what was being done.",
        ),
        "E_API_REFUSED": Code(
            "The HPC API refused the request (HTTP 4xx), or redirected away from itself.",
            "Correct the request if the reason says how; otherwise tell the person the reason.",
        ),
        "E_API_TIMEOUT": Code(
            "The HPC API, or the person's two-factor decision, did not answer in time.",
            "Check the network or VPN and retry later; for an approval, ask the person to approve it first.",
        ),
        "E_API_UNAVAILABLE": Code(
            "The HPC API is unavailable: the gateway in front of it answered 502/503/504 or an HTML page.",
            "Try again later (in a few minutes); if it persists, tell the person the platform may be down.",
        ),
        "E_API_UNREACHABLE": Code(
            "The HPC API cannot be reached (network, VPN, or a wrong --api-url).",
            "Check the network or VPN (the API may be reachable only from campus) and the --api-url setting.",
        ),
        "E_APPROVAL_DENIED": Code(
            "The two-factor approval was denied.",
            "Only retry if the person wants to; they must approve it in 交我办 or by email.",
        ),
        "E_APPROVAL_TIMEOUT": Code(
            "The two-factor approval timed out at the API.",
            "Retry, and ask the person to approve promptly in 交我办 or by email.",
        ),
        "E_LOGIN_REFUSED": Code(
            "The HPC API refused the username or password.",
            "Ask the person to check the username and give the correct password.",
        ),
        "E_NO_SECOND_CHANNEL": Code(
            "The account has neither an email nor a jAccount bound, so two-factor approval cannot reach anyone.",
            "The person must bind an email or jAccount first (the platform's account security page).",
        ),
        "E_TOKEN_REFUSED": Code(
            "The HPC API refused the token (expired, revoked or malformed).",
            "Call request_token to get a new token, then retry.",
        ),
        # -- storage and paths ---------------------------------------------------------------------------
        "E_BINARY": Code(
            "The file is binary (it holds NUL bytes), so it is not shown as text.",
            "Copy it to this computer with transfer_data (destination local:/path) and open it there.",
        ),
        "E_DF": Code(
            "The free space of a pool is unknown, so it could not be checked or chosen.",
            "Try again in a moment.",
        ),
        "E_HOME": Code(
            "The person's home folder is unknown, or not of the form /<pool>/home/<account>/<user>.",
            "Try again in a moment; if it persists, tell hpc@sjtu.edu.cn.",
        ),
        "E_LOCAL_ROOT": Code(
            "A path on this computer lies outside the folders shared with the server, or none is shared.",
            "Use a path inside a shared folder, or share its folder (MCP roots or --local-root).",
        ),
        "E_NOT_A_FILE": Code(
            "The path is a folder or a special file, not a regular file.",
            "Use manage_storage list to see a folder's entries, then read a file inside it.",
        ),
        "E_NOT_FOUND": Code(
            "The path does not exist.",
            "Check the path (manage_storage list on its parent).",
        ),
        "E_NOT_YOURS": Code(
            "A path lies outside the person's own folders (after resolving .. and symlinks).",
            "Use a path under the person's own folder of a pool.",
        ),
        "E_NO_DATA_NODE": Code(
            "No single data node reaches all the pools involved.",
            "Copy in two steps through a pool both sides reach (e.g. cold storage).",
        ),
        "E_NO_SPACE": Code(
            "The destination pool has not enough free space for the copy.",
            "Free space there, pick another pool, or copy less.",
        ),
        "E_PATH": Code(
            "A path is empty, malformed, not absolute, on none of the platform's storage, or on the wrong side.",
            "Give /lustre/home/<account>/<user>/…, POOL:relative/path, or local:/absolute/path.",
        ),
        "E_PERSONAL_ROOT": Code(
            "The act would take a whole personal folder, which it may not.",
            "Name a folder or file inside it.",
        ),
        "E_POOL": Code(
            "The storage pool is unknown.",
            "Use one of: lustre, dssg, archive, vault, union (or cold as a destination).",
        ),
        "E_QUOTA": Code(
            "The person's quota has not enough room left for the copy.",
            "Free space within the quota (query_quota shows it) or copy less.",
        ),
        "E_REMOTE": Code(
            "A storage command on a data node failed.",
            "Check the paths and try again.",
        ),
        "E_SAME": Code(
            "The destination is the source or inside it.",
            "Copy to another place.",
        ),
        # -- transfers -----------------------------------------------------------------------------------
        "E_DEST_IS_DIR": Code(
            "The destination of a single file is an existing folder.",
            "Name the file's own path inside that folder.",
        ),
        "E_DEST_NOT_DIR": Code(
            "The destination of a folder, or a folder inside it, exists and is not a folder.",
            "Name a folder (it may not exist yet), or remove what is in the way.",
        ),
        "E_INSPECT": Code(
            "The source or destination of a local copy cannot be read.",
            "Check the paths and their permissions.",
        ),
        "E_MKDIR": Code(
            "Folders cannot be created at the destination.",
            "Check permissions and space.",
        ),
        "E_NAME": Code(
            "A file name holds a control character or is not UTF-8.",
            "Rename it, or copy around it.",
        ),
        "E_SOURCE_CHANGED": Code(
            "A source file vanished or shrank while it was copied.",
            "Start the transfer again; it resumes.",
        ),
        "E_SYMLINK_ESCAPE": Code(
            "Symlinks in a local source point outside it; nothing was copied.",
            "Remove or replace those links, or copy the folders they point to on their own.",
        ),
        "E_TRANSFER_STATE": Code(
            "A transfer's state folder cannot be read (written by another version?).",
            "Start the transfer again; it resumes.",
        ),
        "E_TYPE_CONFLICT": Code(
            "Some paths are a file on one side and a folder on the other.",
            "Rename or remove them at the destination, or copy to a new folder.",
        ),
        "E_UNKNOWN_TRANSFER": Code(
            "No transfer has this id (on that node, or in this server for a local one).",
            "Use an id from transfer_data list, or start the transfer again: it resumes.",
        ),
        "E_UPLOAD": Code(
            "A file cannot be written on a node.",
            "Check the folder and the quota.",
        ),
        # -- export of the SSH credentials ---------------------------------------------------------------
        "E_EXPORT_EXISTS": Code(
            "The export folder holds something this server did not write, or the key changed meanwhile.",
            "Choose another folder, e.g. ~/.ssh/sjtu-hpc, or call again: it asks before replacing anything.",
        ),
        "E_EXPORT_FOLDER": Code(
            "The export folder is not usable: not a plain absolute path, the server's own, or not writable.",
            "Choose another folder, e.g. ~/.ssh/sjtu-hpc.",
        ),
    }
)
