"""CPU seconds per thread of every process while a command runs (the window opens when its output says "server warm"
and closes with its first summary line): python cpu_threads.py LOG COMMAND... (session 30, E)."""
import os, sys, time, subprocess
def snap():
    d = {}
    for pid in os.listdir('/proc'):
        if not pid.isdigit(): continue
        try:
            cmd = open(f'/proc/{pid}/cmdline','rb').read().replace(b'\0',b' ').decode()[:70]
            for tid in os.listdir(f'/proc/{pid}/task'):
                s = open(f'/proc/{pid}/task/{tid}/stat').read()
                name = s[s.index('(')+1:s.rindex(')')]
                f = s[s.rindex(')')+2:].split()
                d[(pid, tid)] = (cmd, name, int(f[11]) + int(f[12]))
        except (FileNotFoundError, ProcessLookupError, ValueError):
            pass
    return d
log = open(sys.argv[1], 'wb')
p = subprocess.Popen(sys.argv[2:], stdout=log, stderr=subprocess.STDOUT)
while b"server warm" not in open(sys.argv[1], 'rb').read(): time.sleep(0.2)
first, t0 = snap(), time.time(); last = dict(first); t1 = t0
while p.poll() is None:
    time.sleep(0.5)
    if b'"batch"' in open(sys.argv[1], 'rb').read() or b"vs peer" in open(sys.argv[1], 'rb').read(): break
    last.update(snap()); t1 = time.time()
p.wait()
hz = os.sysconf('SC_CLK_TCK')
rows = sorted(((ticks - first.get(k, (0,0,0))[2], k, cmd, name) for k, (cmd, name, ticks) in last.items()), reverse=True)
print(f"window {t1-t0:.1f} s; CPU seconds per thread")
for v, k, cmd, name in rows[:14]:
    if v > 0: print(f"{v/hz:7.2f}  {k[0]:>7}/{k[1]:<7} {name:<12} {cmd}")
