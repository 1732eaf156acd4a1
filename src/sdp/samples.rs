//! Real SDP bodies copied byte for byte from the shared captures (extracted from tshark's
//! `sdp` layer bytes), for the scanner's tests. Each constant names its file and frame.

#![allow(dead_code)]

/// sngrep-aaa frame 223 (INVITE, private c= behind NAT).
pub const SNGREP_AAA_INVITE: &str = "v=0\r\n\
o=SIPPS 105015165 105015162 IN IP4 192.168.1.2\r\n\
s=SIP call\r\n\
c=IN IP4 192.168.1.2\r\n\
t=0 0\r\n\
m=audio 30000 RTP/AVP 0 8 97 2 3\r\n\
a=rtpmap:0 pcmu/8000\r\n\
a=rtpmap:8 pcma/8000\r\n\
a=rtpmap:97 iLBC/8000\r\n\
a=rtpmap:2 G726-32/8000\r\n\
a=rtpmap:3 GSM/8000\r\n\
a=fmtp:97 mode=20\r\n\
a=sendrecv\r\n\
";

/// sngrep-ipv6frag frame 2 (bracketed IPv6 o=).
pub const SNGREP_IPV6_INVITE: &str = "v=0\r\n\
o=user1 53655765 2353687637 IN IP6 [fd17:625c:f037:2:a00:27ff:feb9:1521]\r\n\
s=-\r\n\
c=IN IP6 fd17:625c:f037:2:a00:27ff:feb9:1521\r\n\
t=0 0\r\n\
m=audio 15062 RTP/AVP 100 101 0 120 121\r\n\
a=rtpmap:100 AMR-WB/16000\r\n\
a=fmtp:100 mode-set=\"0,1,2\";octet-align=0\r\n\
a=rtpmap:101 AMR-WB/16000\r\n\
a=fmtp:101 mode-set=\"0,1,2\";octet-align=1\r\n\
a=rtpmap:110 AMR/8000\r\n\
a=fmtp:110 mode-set=\"0,1,2\";octet-align=0\r\n\
a=rtpmap:111 AMR/8000\r\n\
a=fmtp:111 mode-set=\"0,1,2\";octet-align=1\r\n\
a=rtpmap:0 PCMU/8000\r\n\
a=rtpmap:120 telephone-event/8000\r\n\
a=rtpmap:121 telephone-event/16000\r\n\
a=des:qos mandatory local none\r\n\
a=des:qos mandatory remote none\r\n\
a=curr:qos local none\r\n\
a=curr:qos remote none\r\n\
";

/// sngrep-ipv6frag frame 6 (183, bracketed IPv6 o=).
pub const SNGREP_IPV6_183: &str = "v=0\r\n\
o=user1 53655765 2353687637 IN IP6 [fd17:625c:f037:2:a00:27ff:feb9:4222]\r\n\
s=-\r\n\
c=IN IP6 fd17:625c:f037:2:a00:27ff:feb9:4222\r\n\
t=0 0\r\n\
m=audio 25062 RTP/AVP 100 121\r\n\
a=rtpmap:100 AMR-WB/16000\r\n\
a=fmtp:100 mode-set=\"0,1,2\";octet-align=0\r\n\
a=rtpmap:121 telephone-event/16000\r\n\
";

/// arkime-gtp-iphone frame 40 (VoLTE, b= lines).
pub const ARKIME_VOLTE_INVITE: &str = "v=0\r\n\
o=tel:+88270006 1415985484 1415985484 IN IP6 fd00:183:1:1:1886:9040:8605:32b8\r\n\
s=-\r\n\
c=IN IP6 fd00:183:1:1:1886:9040:8605:32b8\r\n\
t=0 0\r\n\
a=sendrecv\r\n\
m=audio 49120 RTP/AVP 104 110 102 108 105 100\r\n\
b=AS:49\r\n\
b=RS:0\r\n\
b=RR:0\r\n\
a=rtpmap:104 AMR-WB/16000\r\n\
a=fmtp:104 octet-align=0; max-red=0\r\n\
a=rtpmap:110 AMR-WB/16000\r\n\
a=fmtp:110 octet-align=1; max-red=0\r\n\
a=rtpmap:102 AMR/8000\r\n\
a=fmtp:102 octet-align=0; max-red=0\r\n\
a=rtpmap:108 AMR/8000\r\n\
a=fmtp:108 octet-align=1; max-red=0\r\n\
a=rtpmap:105 telephone-event/16000\r\n\
a=fmtp:105 0-15\r\n\
a=rtpmap:100 telephone-event/8000\r\n\
a=fmtp:100 0-15\r\n\
a=ptime:20\r\n\
a=maxptime:240\r\n\
a=sendrecv\r\n\
a=des:qos mandatory local sendrecv\r\n\
a=curr:qos local none\r\n\
a=des:qos optional remote sendrecv\r\n\
a=curr:qos remote none\r\n\
";

/// sipnab-sip-rtp-g711 frame 1 (recvonly).
pub const SIPNAB_G711_RECVONLY: &str = "v=0\r\n\
o=- 42 42 IN IP4 10.0.2.20\r\n\
s=-\r\n\
c=IN IP4 10.0.2.20\r\n\
t=0 0\r\n\
m=audio 6000 RTP/AVP 0\r\n\
a=rtpmap:0 PCMU/8000\r\n\
a=recvonly\r\n\
";

/// sipnab-sip-rtp-g711 frame 4 (sendonly).
pub const SIPNAB_G711_SENDONLY: &str = "v=0\r\n\
o=FreeSWITCH 1480144037 1480144038 IN IP4 10.0.2.15\r\n\
s=FreeSWITCH\r\n\
c=IN IP4 10.0.2.15\r\n\
t=0 0\r\n\
m=audio 27942 RTP/AVP 0 101\r\n\
a=rtpmap:0 PCMU/8000\r\n\
a=rtpmap:101 telephone-event/8000\r\n\
a=fmtp:101 0-16\r\n\
a=sendonly\r\n\
a=ptime:20\r\n\
";

/// sipnab-h263-over-rtp frame 3 (audio+video, media-level c=).
pub const SIPNAB_H263_ANSWER: &str = "v=0\r\n\
o=matthew 1208261984604 1208261984604 IN IP4 127.0.0.1\r\n\
s=CounterPath eyeBeam 1.5\r\n\
t=0 0\r\n\
m=audio 57126 RTP/AVP 8 101\r\n\
c=IN IP4 127.0.0.1\r\n\
a=rtpmap:8 PCMA/8000\r\n\
m=video 57128 RTP/AVP 34\r\n\
c=IN IP4 127.0.0.1\r\n\
a=rtpmap:34 H263/90000\r\n\
a=fmtp:34 QCIF=2 CIF=3 MaxBR=4520\r\n\
";

/// sipnab-b2bua-asterisk frame 24 (Asterisk).
pub const SIPNAB_B2BUA_ASTERISK: &str = "v=0\r\n\
o=root 555055307 555055307 IN IP4 172.16.98.101\r\n\
s=Asterisk PBX 11.7.0~dfsg-1ubuntu1\r\n\
c=IN IP4 172.16.98.101\r\n\
t=0 0\r\n\
m=audio 18010 RTP/AVP 0 101\r\n\
a=rtpmap:0 PCMU/8000\r\n\
a=rtpmap:101 telephone-event/8000\r\n\
a=fmtp:101 0-16\r\n\
a=ptime:20\r\n\
a=sendrecv\r\n\
";

/// ndpi-FAX frame 1394 (T.38 image re-INVITE).
pub const NDPI_T38_IMAGE: &str = "v=0\r\n\
o=- 191 1228500780 IN IP4 10.23.1.52\r\n\
s=IMSS\r\n\
c=IN IP4 10.23.1.52\r\n\
t=0 0\r\n\
m=image 16756 udptl t38\r\n\
";

/// ndpi-FAX frame 22 (a MEGACO reply carrying two descriptions; the second has `o=… IP4 -`).
pub const NDPI_TWO_DESCRIPTIONS: &str = "v=0\r\n\
o=- 191 1228500736 IN IP4 10.23.1.52\r\n\
s=-\r\n\
c=IN IP4 10.23.1.52\r\n\
t=0 0\r\n\
m=audio 16756 RTP/AVP 8 103 102\r\n\
a=rtpmap:103 G726-32/8000\r\n\
a=ptime:30\r\n\
a=rtpmap:102 telephone-event/8000/1\r\n\
a=fmtp:102 0-15\r\n\
v=0\r\n\
o=- 0 0 IN IP4 -\r\n\
s=-\r\n\
c=IN IP4 10.23.1.52\r\n\
t=0 0\r\n\
m=image 0 UDPTL t38\r\n\
\x20";

/// ndpi-fuzz frame 325 (c= address with `%s` and a NUL).
pub const NDPI_FUZZ_BAD_CONNECTION: &[u8] = b"v=0\r\n\
o=SIPPS 85214742 85214739 IN IP4 192.168.1.2\r\n\
s=SIP call\r\n\
c=IN IP4 192&168%s\x002\r\n\
t=0 0\r\n\
m=audio 3000E RTP/AVP 0 8 97 2 3\r\n\
a=rtpmap:0 pcmu/800|\r\n\
a=rtpmap:8 pcma/8000\r\n\
a=rtpma\xc2\x9d:97 iLBC/\xc3\x9800s\r\n\
a=rtpmap:2 G726-d2/8000\r\n\
a=rtpmap:3 GSM/8000\r\n\
a=fmtp:97 mode=20\r\n\
a=sendrecv\r\n\
";

/// ndpi-fuzz frame 548 (`auDio`, NUL in the o= version, non-UTF-8 rtpmap).
pub const NDPI_FUZZ_ODD_BUT_READABLE: &[u8] = b"v=0\r\n\
o=SIPPS 24466422 24%s\x00418 IN IP4 192.168.1.2\r\n\
s=SIP call\r\n\
c=IN IP4 192.168.1.2\r\n\
t=0 0\r\n\
m=auDio 30080 RTP/AVP 0 8 97 2 3\r\n\
a=rtpmap:0 pcmu/8\xc2\xb000\r\n\
a=rtpmap:8 pcma/8000\r\n\
a=rtpmap:97 iLBC/8000\r\n\
a=rtpmap:2 G726-32/8000\r\n\
a=rtpmap:3 GSM/8000\r\n\
a=fmtp:97 mode=20\r\n\
a=sendrecv\r\n\
";

/// ndpi-fuzz frame 325 with its c= line repaired, leaving the fuzzed `m=audio 3000E`.
pub const NDPI_FUZZ_BAD_PORT: &[u8] = b"v=0\r\n\
o=SIPPS 85214742 85214739 IN IP4 192.168.1.2\r\n\
s=SIP call\r\n\
c=IN IP4 192.168.1.2\r\n\
t=0 0\r\n\
m=audio 3000E RTP/AVP 0 8 97 2 3\r\n\
a=rtpmap:0 pcmu/800|\r\n\
a=rtpmap:8 pcma/8000\r\n\
a=rtpma\xc2\x9d:97 iLBC/\xc3\x9800s\r\n\
a=rtpmap:2 G726-d2/8000\r\n\
a=rtpmap:3 GSM/8000\r\n\
a=fmtp:97 mode=20\r\n\
a=sendrecv\r\n\
";

/// Every real (non-fuzzed) body above, with a label.
pub const REAL_BODIES: &[(&str, &str)] = &[
    ("sngrep-aaa frame 223 (INVITE, private c= behind NAT)", SNGREP_AAA_INVITE),
    ("sngrep-ipv6frag frame 2 (bracketed IPv6 o=)", SNGREP_IPV6_INVITE),
    ("sngrep-ipv6frag frame 6 (183, bracketed IPv6 o=)", SNGREP_IPV6_183),
    ("arkime-gtp-iphone frame 40 (VoLTE, b= lines)", ARKIME_VOLTE_INVITE),
    ("sipnab-sip-rtp-g711 frame 1 (recvonly)", SIPNAB_G711_RECVONLY),
    ("sipnab-sip-rtp-g711 frame 4 (sendonly)", SIPNAB_G711_SENDONLY),
    ("sipnab-h263-over-rtp frame 3 (audio+video, media-level c=)", SIPNAB_H263_ANSWER),
    ("sipnab-b2bua-asterisk frame 24 (Asterisk)", SIPNAB_B2BUA_ASTERISK),
    ("ndpi-FAX frame 1394 (T.38 image re-INVITE)", NDPI_T38_IMAGE),
    ("ndpi-FAX frame 22 (two descriptions, o=… IP4 -)", NDPI_TWO_DESCRIPTIONS),
];
