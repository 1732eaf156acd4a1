#!/usr/bin/env bash
# Usage: fuzz/seed.sh   (CALLSCOPE=path/to/callscope to skip building the binary)
# Builds small seed corpora for the fuzz targets (not committed: corpus/ is ignored).
# Captures from ../shared/captures (when present) and `callscope synth`; message-level targets
# get SIP/SDP/RTP/RTCP payloads cut out of the synthetic captures by the `extract` of each target
# being fed the whole files anyway (libFuzzer's mutations find the substructures quickly), plus a
# few hand-written seeds.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$here/.."
corpus="$here/corpus"
shared=""
for d in "$root/../shared/captures" "$root/../../shared/captures"; do
  [ -d "$d" ] && shared="$d" && break
done
synth="$(mktemp -d)"
trap 'rm -rf "$synth"' EXIT
if [ -n "${CALLSCOPE:-}" ]; then "$CALLSCOPE" synth --out "$synth" >/dev/null
else (cd "$root" && cargo run --release --quiet -- synth --out "$synth" >/dev/null); fi
for t in capture_stream whole_pipeline decode_frame sip_scan sdp_body rtp_packet rtcp_compound tcp_sip classify; do
  mkdir -p "$corpus/$t"
done
# Whole files, at most 256 KiB each (libFuzzer's -max_len bounds what it reads anyway).
for f in "$synth"/*.pcap* ${shared:+"$shared"/*.pcap*} ${shared:+"$shared"/*.cap}; do
  [ -f "$f" ] || continue
  head -c 262144 "$f" > "$corpus/capture_stream/$(basename "$f")"
  head -c 65536 "$f" > "$corpus/whole_pipeline/$(basename "$f")"
done
# Single frames: slices of the synthetic pcaps past the 24-byte file and 16-byte record header.
i=0
for f in "$synth"/*.pcap; do
  [ -f "$f" ] || continue
  for off in 40 400 1400 4000; do
    i=$((i + 1))
    tail -c +$((off + 1)) "$f" | head -c 1500 > "$corpus/decode_frame/slice$i" || true
    tail -c +$((off + 1)) "$f" | head -c 1500 > "$corpus/tcp_sip/slice$i" || true
    tail -c +$((off + 43)) "$f" | head -c 1400 > "$corpus/rtp_packet/slice$i" || true
    tail -c +$((off + 43)) "$f" | head -c 1400 > "$corpus/rtcp_compound/slice$i" || true
    tail -c +$((off + 43)) "$f" | head -c 1400 > "$corpus/classify/slice$i" || true
  done
done
printf 'INVITE sip:bob@example.com SIP/2.0\r\nVia: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bK1\r\nFrom: <sip:alice@example.com>;tag=a\r\nTo: <sip:bob@example.com>\r\nCall-ID: c1@x\r\nCSeq: 1 INVITE\r\nContent-Type: application/sdp\r\nContent-Length: 120\r\n\r\nv=0\r\no=- 1 1 IN IP4 10.0.0.1\r\ns=-\r\nc=IN IP4 10.0.0.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0 8 101\r\na=rtpmap:101 telephone-event/8000\r\n' > "$corpus/sip_scan/invite"
printf 'SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bK1\r\nFrom: <sip:a@x>;tag=a\r\nTo: <sip:b@x>;tag=b\r\nCall-ID: c1@x\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n' > "$corpus/sip_scan/ok"
printf 'v=0\r\no=- 1 1 IN IP4 10.0.0.1\r\ns=-\r\nc=IN IP4 10.0.0.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0 8 18 101\r\na=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-15\r\na=sendrecv\r\nm=image 4002 udptl t38\r\n' > "$corpus/sdp_body/offer"
cp "$corpus/sip_scan/"* "$corpus/tcp_sip/" 2>/dev/null || true
cp "$corpus/sip_scan/"* "$corpus/classify/" 2>/dev/null || true
echo "seeded $(find "$corpus" -type f | wc -l) files under $corpus"
