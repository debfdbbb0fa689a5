"""HLS: fMP4 pieces, the playlist, and the segmenter that cuts the shared H.264 stream into both,
for the server (LL-HLS) and for ``publish --hls`` alike."""
