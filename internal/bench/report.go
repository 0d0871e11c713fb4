package bench

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"

	"tether/internal/testenv"
)

// Stat is a sample's median and p95 (nearest rank, testenv.Percentile).
type Stat struct {
	N      int     `json:"n"`
	Median float64 `json:"median"`
	P95    float64 `json:"p95"`
}

func stat(v []float64) *Stat {
	if len(v) == 0 {
		return nil
	}
	return &Stat{N: len(v), Median: testenv.Median(v), P95: testenv.Percentile(v, 0.95)}
}

func (s *Stat) String() string {
	if s == nil {
		return "–"
	}
	if s.N == 1 {
		return trim(s.Median)
	}
	return fmt.Sprintf("%s (p95 %s, n=%d)", trim(s.Median), trim(s.P95), s.N)
}

func trim(v float64) string {
	switch {
	case v >= 100:
		return fmt.Sprintf("%.0f", v)
	case v >= 10:
		return fmt.Sprintf("%.1f", v)
	}
	return fmt.Sprintf("%.2f", v)
}

// Row is one line of the table: the seed's claim, the baseline measured
// in the same run, Tether, and Tether's median over the baseline's.
type Row struct {
	Metric   string  `json:"metric"`
	Unit     string  `json:"unit"`
	Claim    string  `json:"seed_claim"`
	Baseline *Stat   `json:"baseline,omitempty"`
	BaseName string  `json:"baseline_name,omitempty"`
	Tether   *Stat   `json:"tether,omitempty"`
	Ratio    float64 `json:"ratio,omitempty"` // Tether / baseline (medians); 0: no baseline
	Note     string  `json:"note,omitempty"`
}

// FaultRow is one line of the fault matrix.
type FaultRow struct {
	Fault     string  `json:"fault"`
	Recovered bool    `json:"recovered"`
	RecoverMs float64 `json:"recover_ms"`
	Lost      string  `json:"state_lost"` // "none" or what was lost
	Note      string  `json:"note,omitempty"`
}

// SoakResult is the soak's summary.
type SoakResult struct {
	Asked     int            `json:"asked"`
	Done      int            `json:"done"`
	Recovered int            `json:"recovered"`
	Lost      int            `json:"lost"`
	Kinds     map[string]int `json:"kinds"`
	FdsFirst  int            `json:"fds_first"`
	FdsMax    int            `json:"fds_max"`
	RSSFirst  float64        `json:"rss_first_mib"`
	RSSMax    float64        `json:"rss_max_mib"`
	GorFirst  int            `json:"goroutines_first"`
	GorMax    int            `json:"goroutines_max"`
	Events    int            `json:"events_checked"`
	EventsOK  bool           `json:"event_log_consistent"`
	Failures  []string       `json:"failures,omitempty"`
	Duration  string         `json:"duration"`
}

// Report is everything one run measured.
type Report struct {
	Command string      `json:"command"`
	Started time.Time   `json:"started"`
	Elapsed string      `json:"elapsed"`
	Rows    []Row       `json:"metrics"`
	Faults  []FaultRow  `json:"faults,omitempty"`
	Soak    *SoakResult `json:"soak,omitempty"`
	Errors  []string    `json:"errors,omitempty"`
	Lost    bool        `json:"lost"` // a fault did not recover or lost state
}

func (r *Report) add(row Row) {
	if row.Baseline != nil && row.Tether != nil && row.Baseline.Median > 0 {
		row.Ratio = row.Tether.Median / row.Baseline.Median
	}
	r.Rows = append(r.Rows, row)
}

// Markdown writes the tables.
func (r *Report) Markdown(w io.Writer) {
	fmt.Fprintf(w, "`%s` (%s, %s)\n\n", r.Command, r.Started.UTC().Format("2006-01-02 15:04 UTC"), r.Elapsed)
	fmt.Fprintln(w, "| metric | seed's claim | baseline | Tether | ratio |")
	fmt.Fprintln(w, "|---|---|---|---|---|")
	for _, row := range r.Rows {
		base := row.Baseline.String()
		if row.BaseName != "" {
			base += " — " + row.BaseName
		}
		ratio := "–"
		if row.Ratio > 0 {
			ratio = fmt.Sprintf("%.2f", row.Ratio)
		}
		metric := row.Metric + " (" + row.Unit + ")"
		if row.Note != "" {
			metric += "; " + row.Note
		}
		fmt.Fprintf(w, "| %s | %s | %s | %s | %s |\n", esc(metric), esc(row.Claim), esc(base), esc(row.Tether.String()), ratio)
	}
	if len(r.Faults) > 0 {
		fmt.Fprintln(w, "\n| fault | recovered | time to recover | state lost |")
		fmt.Fprintln(w, "|---|---|---|---|")
		for _, f := range r.Faults {
			rec := "no"
			switch {
			case f.Recovered:
				rec = "yes"
			case strings.HasPrefix(f.Lost, "not run"):
				rec = "–"
			}
			t := "–"
			if f.Recovered {
				t = fmt.Sprintf("%.2f s", f.RecoverMs/1000)
			}
			name := f.Fault
			if f.Note != "" {
				name += " (" + f.Note + ")"
			}
			fmt.Fprintf(w, "| %s | %s | %s | %s |\n", esc(name), rec, t, esc(f.Lost))
		}
	}
	if s := r.Soak; s != nil {
		fmt.Fprintf(w, "\nsoak: %d/%d faults in a row in %s, %d recovered, %d lost; kinds %v; fds %d→max %d, RSS %.1f→max %.1f MiB, goroutines %d→max %d; event log %d events, consistent %v\n",
			s.Done, s.Asked, s.Duration, s.Recovered, s.Lost, s.Kinds, s.FdsFirst, s.FdsMax, s.RSSFirst, s.RSSMax, s.GorFirst, s.GorMax, s.Events, s.EventsOK)
		for _, f := range s.Failures {
			fmt.Fprintf(w, "- %s\n", f)
		}
	}
	for _, e := range r.Errors {
		fmt.Fprintf(w, "\nnot measured: %s\n", e)
	}
}

func esc(s string) string { return strings.ReplaceAll(s, "|", "\\|") }

// JSON writes the report as indented JSON.
func (r *Report) JSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}
