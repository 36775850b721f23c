package edgeformer

import (
	"bytes"
	"errors"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// Fixtures written by tests/bindings/make_fixtures.sh; EF_BIND_FIXTURES names the folder.
func fixtures(t *testing.T) string {
	dir := os.Getenv("EF_BIND_FIXTURES")
	if dir == "" {
		t.Fatal("EF_BIND_FIXTURES must name the fixture folder (see tests/bindings/make_fixtures.sh)")
	}
	return dir
}

type expectation struct {
	prompt string
	ids    []int32
	text   []byte
}

func expected(t *testing.T) expectation {
	dir := fixtures(t)
	read := func(name string) []byte {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	var ids []int32
	for _, f := range strings.Fields(string(read("bind_greedy16.ids"))) {
		n, err := strconv.Atoi(f)
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, int32(n))
	}
	if len(ids) != 16 {
		t.Fatalf("expected 16 ids, got %d", len(ids))
	}
	return expectation{string(read("bind_prompt.txt")), ids, read("bind_greedy16.txt")}
}

func loadModel(t *testing.T) *Model {
	m, err := LoadModel(filepath.Join(fixtures(t), "bind_tiny.gguf"), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

func equalIDs(a, b []int32) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestVersion(t *testing.T) {
	n := VersionNumber()
	want := strconv.Itoa(int(n/1000000)) + "." + strconv.Itoa(int(n/1000%1000)) + "." + strconv.Itoa(int(n%1000))
	if Version() != want || n/1000000 != HeaderVersionNumber/1000000 {
		t.Fatalf("version %q / %d, header %d", Version(), n, HeaderVersionNumber)
	}
}

// Every EF_API function of the header is called somewhere in this package.
func TestBindsEveryHeaderFunction(t *testing.T) {
	header := os.Getenv("EF_PUBLIC_HEADER")
	if header == "" {
		header = "../../include/edgeformer/edgeformer.h"
	}
	src, err := os.ReadFile(header)
	if err != nil {
		t.Fatal(err)
	}
	text := regexp.MustCompile(`(?s)/\*.*?\*/`).ReplaceAllString(string(src), " ")
	text = regexp.MustCompile(`(?m)^\s*#.*$`).ReplaceAllString(text, "")
	declared := map[string]bool{}
	for _, m := range regexp.MustCompile(`\bEF_API\b[^;{}()]*?\b([A-Za-z_]\w*)\s*\(`).FindAllStringSubmatch(text, -1) {
		declared[m[1]] = true
	}
	if len(declared) < 40 {
		t.Fatalf("parsed only %d EF_API functions", len(declared))
	}
	used := map[string]bool{}
	files, _ := filepath.Glob("*.go")
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		b, _ := os.ReadFile(f)
		for _, m := range regexp.MustCompile(`\b(ef_\w+)\s*\(`).FindAllStringSubmatch(string(b), -1) {
			used[m[1]] = true
		}
	}
	var missing []string
	for name := range declared {
		if !used[name] {
			missing = append(missing, name)
		}
	}
	sort.Strings(missing)
	if len(missing) > 0 {
		t.Fatalf("the Go binding does not call: %v", missing)
	}
}

func TestMissingFileError(t *testing.T) {
	_, err := LoadModel(filepath.Join(fixtures(t), "missing.gguf"), nil)
	var e *Error
	if !errors.As(err, &e) || !errors.Is(err, ErrIO) || e.Status != StatusIO {
		t.Fatalf("want an EF_ERR_IO *Error, got %v", err)
	}
	if !strings.Contains(e.Message, "missing.gguf") || !strings.HasPrefix(err.Error(), "EF_ERR_IO: ") {
		t.Fatalf("message does not name the file: %v", err)
	}
}

func TestModel(t *testing.T) {
	m := loadModel(t)
	if m.Arch() != "llama" || m.NVocab() <= 0 || m.NEmbd() <= 0 || m.NLayer() <= 0 || m.NParams() == 0 || m.SizeBytes() == 0 || m.NCtxTrain() <= 0 {
		t.Fatal("bad model properties")
	}
	if v, err := m.MetaGet("general.architecture"); err != nil || v != "llama" {
		t.Fatal(v, err)
	}
	if _, err := m.MetaGet("no.such.key"); !errors.Is(err, ErrNotFound) {
		t.Fatal(err)
	}
	meta, err := m.Metadata()
	if err != nil || meta["general.architecture"] != "llama" {
		t.Fatal(meta, err)
	}
	tensors, err := m.Tensors()
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, ti := range tensors {
		if ti.Name == "token_embd.weight" {
			found = len(ti.Shape) == 2 && ti.Shape[0] == int64(m.NEmbd()) && ti.Shape[1] == int64(m.NVocab()) && ti.TypeName != "unknown"
		}
	}
	if !found {
		t.Fatal("token_embd.weight missing or mis-shaped")
	}
	msgs := []ChatMessage{{"system", "Be brief."}, {"user", "Hi"}}
	chat, err := ApplyChatTemplate("chatml", msgs, true)
	if err != nil || chat != "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n" {
		t.Fatalf("%q %v", chat, err)
	}
	if own, err := m.ApplyChatTemplate(msgs, true); err != nil || func() string { s, _ := ApplyChatTemplate(m.ChatTemplateFamily(), msgs, true); return s }() != own {
		t.Fatal(own, err)
	}
	if _, err := ApplyChatTemplate("nope", msgs, true); !errors.Is(err, ErrInvalidArg) {
		t.Fatal(err)
	}
	if empty, err := ApplyChatTemplate("chatml", nil, true); err != nil || empty != "<|im_start|>assistant\n" {
		t.Fatalf("%q %v", empty, err)
	}
	ids, err := m.Tokenize("Hello world", false, false)
	if err != nil || len(ids) == 0 {
		t.Fatal(ids, err)
	}
	if txt, err := m.Detokenize(ids, false); err != nil || !strings.Contains(txt, "Hello world") {
		t.Fatal(txt, err)
	}
	if _, ok := m.TokenText(m.NVocab() + 1); ok {
		t.Fatal("out-of-range token has text")
	}
	if _, err := m.Detokenize([]int32{m.NVocab()}, false); !errors.Is(err, ErrInvalidArg) {
		t.Fatal(err)
	}
	_ = m.BOS()
	if eos := m.EOS(); eos >= 0 && !m.IsEOG(eos) {
		t.Fatal("EOS is not end-of-generation")
	}
}

func TestGreedyGenerateMatchesC(t *testing.T) {
	exp := expected(t)
	m := loadModel(t)
	s, err := m.NewSession(nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.SetSampler(GreedySampler()); err != nil {
		t.Fatal(err)
	}
	var ids []int32
	text, err := s.GenerateBytes(exp.prompt, 16, func(tok int32, _ []byte) bool {
		if tok >= 0 {
			ids = append(ids, tok)
		}
		return true
	})
	if err != nil {
		t.Fatal(err)
	}
	if !equalIDs(ids, exp.ids) || !bytes.Equal(text, exp.text) {
		t.Fatalf("got %v %q, want %v %q", ids, text, exp.ids, exp.text)
	}
	st, err := s.Stats()
	if err != nil || st.GenTokens != 16 || st.StopReason != StopMaxTokens || st.MemoryPeak == 0 {
		t.Fatal(st, err)
	}

	// step by step
	if err := s.Reset(); err != nil {
		t.Fatal(err)
	}
	prompt, _ := m.Tokenize(exp.prompt, true, true)
	if err := s.Eval(prompt, false); err != nil {
		t.Fatal(err)
	}
	var steps []int32
	for i := 0; i < 16; i++ {
		tok, err := s.Sample()
		if err != nil {
			t.Fatal(err)
		}
		steps = append(steps, tok)
		if err := s.Eval([]int32{tok}, false); err != nil {
			t.Fatal(err)
		}
	}
	if !equalIDs(steps, exp.ids) {
		t.Fatalf("step by step %v, want %v", steps, exp.ids)
	}
	if l, err := s.Logits(-1); err != nil || len(l) != int(m.NVocab()) {
		t.Fatal(len(l), err)
	}
	if s.NPast() != int32(len(prompt)+16) || s.NCtx() <= s.NPast() {
		t.Fatal(s.NPast(), s.NCtx())
	}
}

func TestStopCancelAndErrors(t *testing.T) {
	exp := expected(t)
	m := loadModel(t)
	s, err := m.NewSession(nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := s.Sample(); !errors.Is(err, ErrState) {
		t.Fatal(err)
	}
	if _, err := s.Generate(exp.prompt, 16, func(int32, string) bool { return false }); err != nil {
		t.Fatal(err)
	}
	if st, _ := s.Stats(); st.StopReason != StopCallback || st.GenTokens != 1 {
		t.Fatal(st)
	}
	s.Reset()
	_, err = s.Generate(exp.prompt, 16, func(int32, string) bool { s.Cancel(); return true })
	if !errors.Is(err, ErrCancelled) || s.ErrMsg() == "" {
		t.Fatal(err, s.ErrMsg())
	}
	s.Reset()
	func() {
		defer func() {
			if r := recover(); r != "boom" {
				t.Fatalf("the callback's panic was not re-raised: %v", r)
			}
		}()
		s.Generate("Hi", 4, func(int32, string) bool { panic("boom") })
	}()
	small, err := m.NewSession(&SessionOptions{NCtx: 4})
	if err != nil {
		t.Fatal(err)
	}
	if err := small.Eval([]int32{1, 1, 1, 1, 1}, false); !errors.Is(err, ErrContextFull) {
		t.Fatal(err)
	}
	small.Close()
	if _, err := m.NewSession(&SessionOptions{KVType: "q3"}); !errors.Is(err, ErrInvalidArg) {
		t.Fatal(err)
	}
	s32, err := m.NewSession(&SessionOptions{KVType: "f32"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s32.Generate(exp.prompt, 2, nil); err != nil {
		t.Fatal(err)
	}
	s32.Close()
	zero := int32(0)
	sid, err := m.NewSession(&SessionOptions{MatmulMode: "integer-dot", Window: &zero, Sinks: &zero})
	if err != nil {
		t.Fatal(err)
	}
	if mode := sid.MatmulMode(); mode != "integer-dot" {
		t.Fatalf("matmul mode reads back as %q", mode)
	}
	if st, err := sid.Stats(); err != nil || st.KVBytesPerToken == 0 {
		t.Fatal("stats of the integer-dot session:", st, err)
	}
	sid.Close()
	if _, err := m.NewSession(&SessionOptions{MatmulMode: "int3"}); !errors.Is(err, ErrInvalidArg) {
		t.Fatal(err)
	}
	if err := small.Reset(); !errors.Is(err, ErrState) {
		t.Fatal("a closed session is usable:", err)
	}
	if err := SetAllocator(nil, nil, nil, nil); err != nil {
		t.Fatal(err)
	}
}

func TestConcurrentSessionsAndLifetime(t *testing.T) {
	exp := expected(t)
	m := loadModel(t)
	var wg sync.WaitGroup
	results := make([][]int32, 3)
	for i := range results {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			s, err := m.NewSession(nil)
			if err != nil {
				t.Error(err)
				return
			}
			defer s.Close()
			s.SetSampler(GreedySampler())
			s.GenerateBytes(exp.prompt, 16, func(tok int32, _ []byte) bool {
				if tok >= 0 {
					results[i] = append(results[i], tok)
				}
				return true
			})
		}(i)
	}
	wg.Wait()
	for _, r := range results {
		if !equalIDs(r, exp.ids) {
			t.Fatalf("%v != %v", r, exp.ids)
		}
	}
	s, err := m.NewSession(nil)
	if err != nil {
		t.Fatal(err)
	}
	m.Close() // the session keeps the native model alive
	if m.NVocab() != 0 {
		t.Fatal("a closed model still answers")
	}
	s.SetSampler(GreedySampler())
	text, err := s.GenerateBytes(exp.prompt, 16, nil)
	if err != nil || !bytes.Equal(text, exp.text) {
		t.Fatal(err)
	}
	s.Close()
	s.Close()
}

func TestQuantizeAndLog(t *testing.T) {
	var mu sync.Mutex
	var lines []string
	SetLogCallback(func(level int32, msg string) { mu.Lock(); lines = append(lines, msg); mu.Unlock() }, LogDebug)
	defer SetLogCallback(nil, LogWarn)
	q, err := NewQuantProfile("balanced")
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	if q.Name() != "balanced" {
		t.Fatal(q.Name())
	}
	out := filepath.Join(t.TempDir(), "q8.gguf")
	calls := 0
	in, outBytes, err := QuantizeFile(filepath.Join(fixtures(t), "bind_tiny.gguf"), out, q, func(string, uint64, uint64) bool { calls++; return true })
	if err != nil || outBytes >= in || calls == 0 {
		t.Fatal(in, outBytes, calls, err)
	}
	qm, err := LoadModel(out, &ModelOptions{NoMmap: true})
	if err != nil {
		t.Fatal(err)
	}
	qm.Close()
	if _, _, err := QuantizeFile(filepath.Join(fixtures(t), "bind_tiny.gguf"), out+".c", q, func(string, uint64, uint64) bool { return false }); !errors.Is(err, ErrCancelled) {
		t.Fatal(err)
	}
	if _, err := NewQuantProfile("nope"); !errors.Is(err, ErrInvalidArg) {
		t.Fatal(err)
	}
	if err := q.AddRule("*.ffn_*", "Q4_0"); err != nil {
		t.Fatal(err)
	}
	if err := q.KeepEmbeddings("Q8_0"); err != nil {
		t.Fatal(err)
	}
	if err := q.SetDefaultType("NOPE"); !errors.Is(err, ErrInvalidArg) {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := ConvertHF(filepath.Join(dir, "no-such-checkpoint"), filepath.Join(dir, "c.gguf"), "", nil); !errors.Is(err, ErrIO) {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "c.gguf")); err == nil {
		t.Fatal("a failed conversion left a file")
	}
	f16, _ := NewQuantProfile("f16")
	defer f16.Close()
	m16, err := LoadModel(filepath.Join(fixtures(t), "bind_tiny.gguf"), &ModelOptions{QuantProfile: f16, Threads: 1, Backend: "cpu"})
	if err != nil {
		t.Fatal(err)
	}
	m16.Close()
}

func trainParams() TrainParams {
	return TrainParams{
		"text": strings.Repeat("the quick brown fox jumps over the lazy dog. ", 40), "vocab": "synthetic:300",
		"dim": 32, "layers": 1, "heads": 2, "kv_heads": 1, "ff": 64, "seq": 16, "batch": 2,
		"steps": 3, "warmup": 1, "threads": 1, "lr": 1e-3, "tied": true,
	}
}

func TestTrainExportAndLoad(t *testing.T) {
	dir := t.TempDir()
	tr, err := NewTrainer(trainParams())
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	if tr.NParams() == 0 || tr.TokensPerStep() != 2*16 || tr.StepCount() != 0 || tr.LR() <= 0 {
		t.Fatal(tr.NParams(), tr.TokensPerStep(), tr.StepCount(), tr.LR())
	}
	for i := 0; i < 3; i++ {
		loss, err := tr.Step()
		if err != nil || math.IsNaN(float64(loss)) || math.IsInf(float64(loss), 0) || loss <= 0 {
			t.Fatal(i, loss, err)
		}
	}
	if val, err := tr.Evaluate(); err != nil || math.IsNaN(float64(val)) || math.IsInf(float64(val), 0) {
		t.Fatal(val, err)
	}
	ckpt := filepath.Join(dir, "t.ckpt")
	if err := tr.Save(ckpt); err != nil {
		t.Fatal(err)
	}
	if err := tr.Load(ckpt); err != nil || tr.StepCount() != 3 {
		t.Fatal(tr.StepCount(), err)
	}
	if err := tr.Load(filepath.Join(dir, "missing.ckpt")); !errors.Is(err, ErrIO) {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "trained.gguf")
	if err := tr.Export(out); err != nil {
		t.Fatal(err)
	}
	if err := tr.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := tr.Step(); !errors.Is(err, ErrState) {
		t.Fatal(err)
	}
	m, err := LoadModel(out, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if m.Arch() != "edgeformer" || m.NEmbd() != 32 || m.NLayer() != 1 || m.NVocab() != 300 {
		t.Fatal(m.Arch(), m.NEmbd(), m.NLayer(), m.NVocab())
	}
	if ids, err := m.Tokenize("the quick", false, false); err != nil || len(ids) == 0 {
		t.Fatal(ids, err)
	}

	bad := trainParams()
	bad["no_such_setting"] = 1
	if _, err := NewTrainer(bad); !errors.Is(err, ErrInvalidArg) || !strings.Contains(err.Error(), "no_such_setting") {
		t.Fatal(err)
	}
	bad = trainParams()
	bad["dim"] = []int{32}
	if _, err := NewTrainer(bad); !errors.Is(err, ErrInvalidArg) {
		t.Fatal(err)
	}
}

func TestTrainTokenizer(t *testing.T) {
	dir := t.TempDir()
	txt := filepath.Join(dir, "text.txt")
	text := strings.Repeat("the quick brown fox jumps over the lazy dog. ", 40) + "naïve café 12345 "
	if err := os.WriteFile(txt, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	vocab := filepath.Join(dir, "bpe.gguf")
	if err := TrainTokenizer(txt, 300, vocab); err != nil {
		t.Fatal(err)
	}
	p := trainParams()
	p["vocab"] = "gguf:" + vocab
	tr, err := NewTrainer(p)
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "m.gguf")
	if err := tr.Export(out); err != nil {
		t.Fatal(err)
	}
	tr.Close()
	m, err := LoadModel(out, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if m.NVocab() != 300 {
		t.Fatal(m.NVocab())
	}
	if err := TrainTokenizer(txt, 100, filepath.Join(dir, "small.gguf")); !errors.Is(err, ErrInvalidArg) {
		t.Fatal(err)
	}
}

// Fork, rewind and snapshots through the KV-cache API give back the same logits.
func TestKVForkRewindSnapshot(t *testing.T) {
	m := loadModel(t)
	s, err := m.NewSession(&SessionOptions{KV: &KVOptions{NSeqMax: 2, PageSize: 16, KType: "f32", VType: "f32"}})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	prompt, err := m.Tokenize("Hello world", true, false)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Eval(prompt, false); err != nil {
		t.Fatal(err)
	}
	want, _ := s.Logits(-1)
	same := func(what string) {
		got, err := s.Logits(-1)
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		for i := range want {
			if got[i] != want[i] {
				t.Fatalf("%s: logit %d is %g, want %g", what, i, got[i], want[i])
			}
		}
	}
	snap, err := s.SaveBytes(SeqAll)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Eval(prompt[:1], false); err != nil {
		t.Fatal(err)
	}
	if err := s.RestoreBytes(SeqAll, snap); err != nil {
		t.Fatal(err)
	}
	same("after restore")
	if err := s.RestoreBytes(SeqAll, snap[:len(snap)/2]); !errors.Is(err, ErrFormat) && !errors.Is(err, ErrCorrupt) {
		t.Fatalf("truncated snapshot: %v", err)
	}
	kv := s.KVCache()
	if err := kv.Copy(0, 1); err != nil {
		t.Fatal(err)
	}
	if err := s.SetSeq(1); err != nil {
		t.Fatal(err)
	}
	if err := kv.Remove(1, int32(len(prompt)-1), -1); err != nil {
		t.Fatal(err)
	}
	if err := s.Eval(prompt[len(prompt)-1:], false); err != nil {
		t.Fatal(err)
	}
	same("after fork and rewind")
	if lo, hi, err := kv.PosRange(1); err != nil || lo != 0 || hi != int32(len(prompt)-1) {
		t.Fatalf("pos range %d..%d, %v", lo, hi, err)
	}
	list, err := Backends()
	if err != nil || len(list) == 0 || list[0].Name != "cpu" || !list[0].Available {
		t.Fatalf("backends: %v %v", list, err)
	}
}
