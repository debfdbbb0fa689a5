"""Recording: the shared H.264 packets written to MP4 files, with no encode and no decode.

:mod:`~camcast.record.gops` groups the packets into pictures with durations, a keyframe first
(pure); :mod:`~camcast.record.clip` writes them as fragmented MP4 and gives a finished file a normal
index (in a worker thread); :mod:`~camcast.record.catalog` lists, exports and deletes what is on disk;
:mod:`~camcast.record.retention` decides what goes when a limit is reached;
:mod:`~camcast.record.recorder` is one camera's recorder, a listener of its H.264 rendition and of its
motion events; :mod:`~camcast.record.runner` holds them all.
"""
