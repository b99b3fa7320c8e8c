'use strict';
// RtpEndpoint through the unmodified clients: the answers KMS gives to the plain-RTP offers real
// peers send (ffmpeg, a SIP gateway, a recvonly camera client offering H.264/MP4V/H.263), our own
// offers (RTP/AVPF, and RTP/SAVPF with SDES keys when the constructor's crypto asks for it).

const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { useServer } = require('../lib/server');
const { VERSIONS, connect, closeClient, load } = require('../lib/clients');

const server = useServer();

const sdp = (...lines) => `${lines.join('\r\n')}\r\n`;

// What `ffmpeg -f rtp` writes for one VP8 stream and one Opus stream.
const FFMPEG_OFFER = sdp(
  'v=0', 'o=- 0 0 IN IP4 127.0.0.1', 's=No Name', 'c=IN IP4 127.0.0.1', 't=0 0', 'a=tool:libavformat 59.27.100',
  'm=video 40000 RTP/AVP 96', 'a=rtpmap:96 VP8/90000',
  'm=audio 40002 RTP/AVP 97', 'a=rtpmap:97 opus/48000/2',
);
// A phone gateway: several audio codecs, DTMF events, no ICE, no rtcp-mux.
const SIP_OFFER = sdp(
  'v=0', 'o=FreeSWITCH 1 2 IN IP4 127.0.0.1', 's=FreeSWITCH', 'c=IN IP4 127.0.0.1', 't=0 0',
  'm=audio 41000 RTP/AVP 9 0 8 101', 'a=rtpmap:9 G722/8000', 'a=rtpmap:0 PCMU/8000', 'a=rtpmap:8 PCMA/8000',
  'a=rtpmap:101 telephone-event/8000', 'a=fmtp:101 0-16', 'a=ptime:20', 'a=sendrecv',
);
const RECVONLY_VIDEO_OFFER = sdp(
  'v=0', 'o=- 1 1 IN IP4 127.0.0.1', 's=-', 'c=IN IP4 127.0.0.1', 't=0 0',
  'm=video 42000 RTP/AVP 96 97 34', 'a=rtpmap:96 H264/90000', 'a=fmtp:96 packetization-mode=1;profile-level-id=42e01f',
  'a=rtpmap:97 MP4V-ES/90000', 'a=rtpmap:34 H263/90000', 'a=recvonly',
);

function media(answer, kind) {
  const sections = answer.split(/\r?\n(?=m=)/);
  return sections.find((s) => s.startsWith(`m=${kind} `)) || '';
}

for (const v of VERSIONS) {
  describe(`${v.name} RtpEndpoint`, () => {
    let client;
    let pipeline;
    before(async () => {
      client = await connect(v.pkg, server.url);
      pipeline = await client.create('MediaPipeline');
    });
    after(async () => {
      await pipeline.release();
      closeClient(client);
    });

    it("answers ffmpeg's offer with its payload types and a port of ours for each stream", async () => {
      const ep = await pipeline.create('RtpEndpoint');
      const answer = await ep.processOffer(FFMPEG_OFFER);
      const video = media(answer, 'video');
      const audio = media(answer, 'audio');
      assert.match(video, /^m=video [1-9]\d* RTP\/AVP 96/, answer);
      assert.match(video, /a=rtpmap:96 VP8\/90000/, answer);
      assert.match(audio, /^m=audio [1-9]\d* RTP\/AVP 97/, answer);
      assert.match(audio, /a=rtpmap:97 opus\/48000\/2/i, answer);
      assert.match(answer, /c=IN IP4 127\.0\.0\.1/, answer);
      assert.doesNotMatch(answer, /a=ice-ufrag|a=fingerprint|a=crypto/, answer);
      assert.equal(await ep.getRemoteSessionDescriptor(), FFMPEG_OFFER);
      assert.equal(await ep.getLocalSessionDescriptor(), answer);
      await ep.release();
    });

    it("answers a SIP gateway's audio offer with G.711 and no ICE", async () => {
      const ep = await pipeline.create('RtpEndpoint');
      const answer = await ep.processOffer(SIP_OFFER);
      const audio = media(answer, 'audio');
      assert.match(audio, /^m=audio [1-9]\d* RTP\/AVP [08]( |\r|$)/m, answer);
      assert.doesNotMatch(audio.split('\r\n')[0], / 9( |$)/, `G.722 is not offered back: ${answer}`);
      assert.match(audio, /a=rtpmap:(0 PCMU|8 PCMA)\/8000/, answer);
      assert.doesNotMatch(answer, /a=ice-/, answer);
      await ep.release();
    });

    it('answers a recvonly H.264/MP4V/H.263 offer sendonly with H.264 only', async () => {
      const ep = await pipeline.create('RtpEndpoint');
      const answer = await ep.processOffer(RECVONLY_VIDEO_OFFER);
      const video = media(answer, 'video');
      assert.match(video, /^m=video [1-9]\d* RTP\/AVP 96\r?$/m, answer);
      assert.match(video, /a=rtpmap:96 H264\/90000/, answer);
      assert.match(video, /a=sendonly/, answer);
      assert.doesNotMatch(video, /MP4V|H263/, answer);
      await ep.release();
    });

    it('offers RTP/AVPF, and RTP/SAVPF with an SDES key when crypto is set', async () => {
      const plain = await pipeline.create('RtpEndpoint');
      const offer = await plain.generateOffer();
      assert.match(offer, /m=audio [1-9]\d* RTP\/AVPF /, offer);
      assert.match(offer, /m=video [1-9]\d* RTP\/AVPF /, offer);
      assert.match(offer, /a=rtpmap:\d+ VP8\/90000/, offer);
      assert.match(offer, /a=rtpmap:\d+ H264\/90000/, offer);
      assert.match(offer, /a=rtpmap:\d+ opus\/48000/i, offer);
      assert.doesNotMatch(offer, /a=crypto/, offer);
      const SDES = load(v.pkg).getComplexType('SDES');
      const secure = await pipeline.create('RtpEndpoint', { crypto: SDES({ crypto: 'AES_128_CM_HMAC_SHA1_80' }) });
      const sOffer = await secure.generateOffer();
      assert.match(sOffer, /m=video [1-9]\d* RTP\/SAVPF /, sOffer);
      assert.match(sOffer, /a=crypto:\d+ AES_CM_128_HMAC_SHA1_80 inline:[A-Za-z0-9+/=]{40}/, sOffer);
      await plain.release();
      await secure.release();
    });
  });
}
