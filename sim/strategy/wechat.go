package strategy

import "time"

// WeChatConfig configures Tencent Mars's smart heartbeat
// (Tencent/mars:mars/stn/src/smart_heartbeat.cc and mars/stn/config.h;
// facts §4.3).
type WeChatConfig struct {
	// Min is MinHeartInterval, 270 s; also the interval in the foreground
	// and for the first NetStableTestCount heartbeats of a connection.
	Min time.Duration `param:"min"`
	// Max is MaxHeartInterval: 590 s in WeChat's article (the default) or
	// 890 s in the open-source config.h.
	Max time.Duration `param:"max"`
	// HeartStep is the probing step, 60 s.
	HeartStep time.Duration `param:"heart_step"`
	// SuccessStep is the margin below Max and the re-probe step, 20 s.
	SuccessStep time.Duration `param:"success_step"`
	// MaxFail is MaxHeartFailCount, 3.
	MaxFail int `param:"max_fail"`
	// BaseSucc is BaseSuccCount, 3 successes at an interval to step up.
	BaseSucc int `param:"base_succ"`
	// StableTest is NetStableTestCount, 3 successes on a connection before
	// the learned interval is used.
	StableTest int `param:"stable_test"`
	// BackgroundGrace keeps Min for this long after the app goes to the
	// background (the article's 10 min; 0 in the open-source code).
	BackgroundGrace time.Duration `param:"background_grace"`
}

// DefaultWeChat returns the article's values (Max 590 s).
func DefaultWeChat() WeChatConfig {
	return WeChatConfig{Min: 270 * time.Second, Max: 590 * time.Second, HeartStep: 60 * time.Second,
		SuccessStep: 20 * time.Second, MaxFail: 3, BaseSucc: 3, StableTest: 3, BackgroundGrace: 10 * time.Minute}
}

// wechatNet is the state Mars persists per network label (Heartbeat.ini).
type wechatNet struct {
	cur      time.Duration
	succCurr int // success_curr_heart_count_
	fail     int
	stable   bool
	modified time.Time // last_modify_time_
}

// WeChat is the smart heartbeat. State is kept per network (Kind and
// Label), as Mars keys it by network label; the MIUI 5-minute-alarm special
// case is not modelled. Re-probing checks the weekday of now in UTC.
type WeChat struct {
	c    WeChatConfig
	nets map[Network]*wechatNet
	net  *wechatNet
	// succ counts successes on this connection (success_heart_count_);
	// last is the interval last handed out (last_heart_).
	succ      int
	last      time.Duration
	waiting   bool
	fg        bool
	bgSince   time.Time
	hasBGTime bool
}

// NewWeChat returns the "wechat-smart" strategy.
func NewWeChat(c WeChatConfig) (*WeChat, error) {
	const n = "wechat-smart"
	if err := firstErr(positive(n, "min", c.Min), positive(n, "max", c.Max), positive(n, "heart_step", c.HeartStep),
		positive(n, "success_step", c.SuccessStep)); err != nil {
		return nil, err
	}
	if c.Max < c.Min+c.SuccessStep {
		return nil, errorf(n, "max = %v must be at least min + success_step = %v", c.Max, c.Min+c.SuccessStep)
	}
	for _, f := range []struct {
		name string
		v    int
	}{{"max_fail", c.MaxFail}, {"base_succ", c.BaseSucc}, {"stable_test", c.StableTest}} {
		if f.v < 1 {
			return nil, errorf(n, "%s = %d must be at least 1", f.name, f.v)
		}
	}
	if c.BackgroundGrace < 0 {
		return nil, errorf(n, "background_grace = %v must not be negative", c.BackgroundGrace)
	}
	w := &WeChat{c: c, nets: map[Network]*wechatNet{}, last: c.Min}
	w.net = w.lookup(time.Time{}, Network{})
	return w, nil
}

func (w *WeChat) lookup(now time.Time, n Network) *wechatNet {
	s, ok := w.nets[n]
	if !ok {
		// Mars saves a new network's section at once (__SaveINI).
		s = &wechatNet{cur: w.c.Min, modified: now}
		w.nets[n] = s
	}
	return s
}

// Name implements Strategy.
func (*WeChat) Name() string { return "wechat-smart" }

// Connected implements Strategy (OnLongLinkEstablished).
func (w *WeChat) Connected(now time.Time, n Network) {
	w.net = w.lookup(now, n)
	w.succ = 0
}

// Disconnected implements Strategy (OnLongLinkDisconnect): a pending
// heartbeat counts as failed; in the stable state the counters reset.
func (w *WeChat) Disconnected(now time.Time) {
	if w.waiting {
		w.result(now, false)
	}
	w.waiting = false
	if !w.net.stable {
		return
	}
	w.net.succCurr = 0
	w.succ = 0
	w.last = w.c.Min
}

// SetForeground implements Foregrounder.
func (w *WeChat) SetForeground(now time.Time, fg bool) {
	if w.fg && !fg {
		w.bgSince, w.hasBGTime = now, true
	}
	w.fg = fg
}

// KeepAliveSent implements KeepAliveSender (OnHeartbeatStart): from now
// the heartbeat awaits its answer, and a disconnect before it counts as
// its failure.
func (w *WeChat) KeepAliveSent(time.Time) { w.waiting = true }

// Next implements Strategy (GetNextHeartbeatInterval); exact alarm.
func (w *WeChat) Next(now time.Time) (Alarm, bool) {
	grace := w.hasBGTime && now.Sub(w.bgSince) < w.c.BackgroundGrace
	if w.fg || grace || w.succ < w.c.StableTest {
		w.last = w.c.Min
	} else {
		w.last = w.net.cur
	}
	return Alarm{Earliest: w.last, Latest: w.last}, true
}

// AckTimeout implements Strategy. Mars's heartbeat timeout is not among
// the facts; 30 s is an assumption.
func (*WeChat) AckTimeout() time.Duration { return 30 * time.Second }

// Succeeded implements Strategy.
func (w *WeChat) Succeeded(now time.Time, _ time.Duration) { w.result(now, true) }

// Failed implements Strategy.
func (w *WeChat) Failed(now time.Time, _ time.Duration) { w.result(now, false) }

// result is SmartHeartbeat::OnHeartResult.
func (w *WeChat) result(now time.Time, ok bool) {
	w.waiting = false
	n, c := w.net, w.c
	if ok {
		w.succ++
		if n.stable {
			if w.succ >= c.StableTest && n.cur < c.Max-c.SuccessStep &&
				now.Sub(n.modified) >= 24*time.Hour && now.UTC().Weekday() == time.Tuesday {
				// Re-probe (tm_wday == 2; the code comment says Wednesday).
				n.cur += c.SuccessStep
				n.succCurr, n.fail, n.stable = 0, 0, false
				n.modified = now
			}
			return
		}
	}
	if w.last != n.cur || w.succ < c.StableTest {
		return
	}
	if ok {
		n.succCurr++
		if n.cur >= c.Max {
			n.cur = c.Max - c.SuccessStep
			n.succCurr, n.stable = 0, true
		} else if n.succCurr >= c.BaseSucc {
			n.cur = min(n.cur+c.HeartStep, c.Max)
			n.succCurr = 0
		}
		n.fail = 0
	} else {
		if w.last == c.Min {
			return
		}
		n.fail++
		if n.fail >= c.MaxFail {
			if n.stable {
				n.cur, n.stable = c.Min, false
			} else {
				n.cur = max(n.cur-c.HeartStep-c.SuccessStep, c.Min)
				n.stable = true
			}
			n.succCurr, n.fail = 0, 0
		}
	}
	n.modified = now
}

// Interval implements Strategy: the learned interval of the current
// network.
func (w *WeChat) Interval() time.Duration { return w.net.cur }

// TCP implements Strategy.
func (*WeChat) TCP() (TCPKeepAlive, bool) { return TCPKeepAlive{}, false }
