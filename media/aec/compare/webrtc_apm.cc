// webrtc_apm: runs Debian 12's webrtc-audio-processing 0.3 (AEC, with its
// NS and digital AGC) over the synthetic echo that media/aec's TestCancels
// dumps, so the two candidates of issue 15 are compared on the same input.
// Not part of the build; see README.md in this directory.
//
//   g++ -O2 -o /tmp/webrtc_apm webrtc_apm.cc $(pkg-config --cflags --libs webrtc-audio-processing)
//   /tmp/webrtc_apm far.s16 near.s16 out.s16 [delay_ms] [linear]
#include <cstdio>
#include <cstring>
#include <cstdlib>
#include <vector>
#include <webrtc/modules/audio_processing/include/audio_processing.h>
#include <webrtc/modules/interface/module_common_types.h>

static std::vector<int16_t> load(const char *p) {
	std::vector<int16_t> v;
	FILE *f = fopen(p, "rb");
	if (!f) { perror(p); exit(1); }
	int16_t buf[4096];
	size_t n;
	while ((n = fread(buf, 2, 4096, f)) > 0) v.insert(v.end(), buf, buf + n);
	fclose(f);
	return v;
}

int main(int argc, char **argv) {
	if (argc < 4) { fprintf(stderr, "usage: %s far near out [delay_ms] [linear]\n", argv[0]); return 2; }
	std::vector<int16_t> far = load(argv[1]), near = load(argv[2]);
	int delay = argc > 4 ? atoi(argv[4]) : 30;
	bool linear = argc > 5;
	webrtc::Config cfg;
	cfg.Set<webrtc::ExtendedFilter>(new webrtc::ExtendedFilter(true));
	cfg.Set<webrtc::DelayAgnostic>(new webrtc::DelayAgnostic(true));
	webrtc::AudioProcessing *apm = webrtc::AudioProcessing::Create(cfg);
	apm->echo_cancellation()->Enable(true);
	apm->echo_cancellation()->set_suppression_level(linear ? webrtc::EchoCancellation::kLowSuppression : webrtc::EchoCancellation::kHighSuppression);
	if (!linear) {
		apm->noise_suppression()->Enable(true);
		apm->noise_suppression()->set_level(webrtc::NoiseSuppression::kModerate);
		apm->gain_control()->set_mode(webrtc::GainControl::kAdaptiveDigital);
		apm->gain_control()->Enable(true);
	}
	// The reverse stream must match the forward stream's rate, which is
	// 16 kHz until told otherwise.
	apm->Initialize(48000, 48000, 48000, webrtc::AudioProcessing::kMono,
	                webrtc::AudioProcessing::kMono, webrtc::AudioProcessing::kMono);
	const int frame = 480; // 10 ms: the only block size APM takes
	webrtc::AudioFrame f;
	f.sample_rate_hz_ = 48000;
	f.num_channels_ = 1;
	f.samples_per_channel_ = frame;
	std::vector<int16_t> out(near.size());
	FILE *o = fopen(argv[3], "wb");
	for (size_t off = 0; off + frame <= far.size() && off + frame <= near.size(); off += frame) {
		memcpy(f.data_, &far[off], frame * 2);
		{ int rc = apm->ProcessReverseStream(&f); if (rc != 0) { fprintf(stderr, "reverse failed: %d\n", rc); return 1; } }
		memcpy(f.data_, &near[off], frame * 2);
		apm->set_stream_delay_ms(delay);
		if (apm->ProcessStream(&f) != 0) { fprintf(stderr, "process failed\n"); return 1; }
		fwrite(f.data_, 2, frame, o);
	}
	fclose(o);
	delete apm;
	return 0;
}
