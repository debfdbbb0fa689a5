"""ONVIF: camcast as the camera NVRs and Home Assistant adopt (Profile S: device, media and events),
found by WS-Discovery when the owner asks. The SOAP is read by a hardened parser
(:mod:`camcast.onvif.soap`); the operations answered are one table (:mod:`camcast.onvif.operations`);
credentials are camcast's accounts (:mod:`camcast.security.digest`, :mod:`camcast.security.device`).
The HTTP side is :mod:`camcast.server.onvif`; discovery is :mod:`camcast.onvif.discovery`."""
