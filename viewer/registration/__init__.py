"""Registration: transforms that map each series' patient space onto the reference series'.

Qt-free; never changes a Volume. :func:`register` (automatic, SimpleITK Mattes mutual
information), :func:`fit_rigid_to_landmarks` and :func:`nudge` (manual fixes),
:func:`register_all` (every visit, one registration per frame of reference) with
:func:`choose_reference`, and :func:`share_frames_of_reference`.
"""

from viewer.registration.automatic import RegistrationResult, Settings, register
from viewer.registration.batch import BatchResult, choose_reference, register_all
from viewer.registration.frames import SHARED_METHOD, share_frames_of_reference
from viewer.registration.landmarks import fit_rigid_to_landmarks, nudge

__all__ = [
    "SHARED_METHOD",
    "BatchResult",
    "RegistrationResult",
    "Settings",
    "choose_reference",
    "fit_rigid_to_landmarks",
    "nudge",
    "register",
    "register_all",
    "share_frames_of_reference",
]
