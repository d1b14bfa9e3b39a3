// bench_main.cc - the one C++ file of the suite: bench.h's C calls on top of Google Benchmark,
// and main(), which registers the C bodies and runs them.  No benchmark body lives here.
//
// Our own options, taken out of argv before Google Benchmark sees it:
//   --quick            bm_quick() is true: every body shrinks its work (make bench-quick)
//   --corpus-dir=DIR   where corpus-{mixed,bin,text}.bin are (default build/bench)
//   --bm-child NAME ARG FD   (internal) run child function NAME instead; see bm_run_child()
#include <benchmark/benchmark.h>

#include <cerrno>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench.h"

namespace {

// bm_sync(): the threads of one run meet here.  Runs of one benchmark never overlap, so one
// barrier per registration serves all of them.
struct barrier {
	std::mutex lock;
	std::condition_variable cv;
	int waiting = 0;
	unsigned long generation = 0;

	void wait(int nthreads)
	{
		std::unique_lock<std::mutex> l(lock);
		unsigned long gen = generation;

		if (++waiting == nthreads) {
			waiting = 0;
			generation++;
			cv.notify_all();
			return;
		}
		cv.wait(l, [&] { return generation != gen; });
	}
};

struct registration {
	std::string name;
	bm_body_fn body;
	bm_config_fn config;
	const void *user;
	std::shared_ptr<barrier> sync;
};

// Function-local statics: constructors in the C files run before this file's globals are
// initialised, so nothing here may be a plain global object.
std::vector<registration> &registrations()
{
	static std::vector<registration> v;
	return v;
}

std::map<std::string, bm_child_fn> &children()
{
	static std::map<std::string, bm_child_fn> m;
	return m;
}

// The body of a running benchmark reaches its registration through this wrapper, which is
// what struct bm_state really is.
struct state_box {
	benchmark::State *st;
	const registration *reg;
	bool started;  // the body called bm_keep_running()
	bool finished; // ... and it returned false: Google Benchmark closed the loop
};

bool quick;
std::string corpus_dir = "build/bench";

benchmark::State &S(struct bm_state *s)
{
	return *reinterpret_cast<state_box *>(s)->st;
}

const benchmark::State &S(const struct bm_state *s)
{
	return *reinterpret_cast<const state_box *>(s)->st;
}

benchmark::internal::Benchmark *B(struct bm_bench *b)
{
	return reinterpret_cast<benchmark::internal::Benchmark *>(b);
}

std::string first_line_with(const char *path, const char *key)
{
	std::ifstream f(path);
	std::string line;

	while (std::getline(f, line)) {
		if (line.compare(0, strlen(key), key) == 0) {
			size_t colon = line.find(':');
			return colon == std::string::npos ? line : line.substr(colon + 2);
		}
	}
	return "unknown";
}

// The machine, named in the JSON's context so the report can print it beside the figures.
void add_machine_context()
{
	struct utsname u;

	benchmark::AddCustomContext("cpu_model", first_line_with("/proc/cpuinfo", "model name"));
	benchmark::AddCustomContext("cpus_online", std::to_string(sysconf(_SC_NPROCESSORS_ONLN)));
	if (uname(&u) == 0)
		benchmark::AddCustomContext("kernel", std::string(u.sysname) + " " + u.release);
	benchmark::AddCustomContext("mem_total", first_line_with("/proc/meminfo", "MemTotal"));
	benchmark::AddCustomContext("quick", quick ? "1" : "0");
	benchmark::AddCustomContext("corpus_dir", corpus_dir);
	benchmark::AddCustomContext("uid", std::to_string(getuid()));
}

void run_body(benchmark::State &st, const registration *reg)
{
	state_box box = {&st, reg, false, false};

	reg->body(reinterpret_cast<struct bm_state *>(&box));
	// A body either runs its loop or says why not (bm_skip() or bm_fail()).
	if (!box.started && !st.error_occurred())
		st.SkipWithError("failed: body returned without running its loop");
}

int child_main(int argc, char **argv)
{
	if (argc != 5) {
		fprintf(stderr, "%s: --bm-child NAME ARG FD\n", argv[0]);
		return 2;
	}
	auto it = children().find(argv[2]);
	if (it == children().end()) {
		fprintf(stderr, "%s: no child function '%s'\n", argv[0], argv[2]);
		return 2;
	}
	return it->second(argv[3], atoi(argv[4])) ? 1 : 0;
}

} // namespace

extern "C" {

void bm_register(const char *name, bm_body_fn body, bm_config_fn config, const void *user)
{
	registrations().push_back({name, body, config, user, std::make_shared<barrier>()});
}

void bm_arg_name(struct bm_bench *b, const char *name)
{
	B(b)->ArgName(name);
}

void bm_arg_names(struct bm_bench *b, int n, const char *const *names)
{
	B(b)->ArgNames(std::vector<std::string>(names, names + n));
}

void bm_arg(struct bm_bench *b, int64_t value)
{
	B(b)->Arg(value);
}

void bm_args(struct bm_bench *b, int n, const int64_t *values)
{
	B(b)->Args(std::vector<int64_t>(values, values + n));
}

void bm_threads(struct bm_bench *b, int n)
{
	B(b)->Threads(n);
}

void bm_manual_time(struct bm_bench *b)
{
	B(b)->UseManualTime();
}

void bm_real_time(struct bm_bench *b)
{
	B(b)->UseRealTime();
}

void bm_fixed_iterations(struct bm_bench *b, int64_t n)
{
	B(b)->Iterations(n);
}

void bm_repetitions(struct bm_bench *b, int n)
{
	B(b)->Repetitions(n);
}

void bm_min_time(struct bm_bench *b, double seconds)
{
	B(b)->MinTime(seconds);
}

void bm_unit(struct bm_bench *b, enum bm_unit unit)
{
	static const benchmark::TimeUnit units[] = {benchmark::kNanosecond, benchmark::kMicrosecond,
						    benchmark::kMillisecond, benchmark::kSecond};
	B(b)->Unit(units[unit]);
}

int bm_keep_running(struct bm_state *s)
{
	state_box *box = reinterpret_cast<state_box *>(s);

	box->started = true;
	if (box->st->KeepRunning())
		return 1;
	box->finished = true;
	return 0;
}

int64_t bm_range(const struct bm_state *s, int i)
{
	return S(s).range(i);
}

int64_t bm_iterations(const struct bm_state *s)
{
	return S(s).iterations();
}

int bm_thread_index(const struct bm_state *s)
{
	return S(s).thread_index();
}

int bm_nthreads(const struct bm_state *s)
{
	return S(s).threads();
}

const void *bm_user(const struct bm_state *s)
{
	return reinterpret_cast<const state_box *>(s)->reg->user;
}

void bm_sync(struct bm_state *s)
{
	reinterpret_cast<state_box *>(s)->reg->sync->wait(S(s).threads());
}

void bm_pause(struct bm_state *s)
{
	S(s).PauseTiming();
}

void bm_resume(struct bm_state *s)
{
	S(s).ResumeTiming();
}

void bm_set_iteration_time(struct bm_state *s, double seconds)
{
	S(s).SetIterationTime(seconds);
}

void bm_items(struct bm_state *s, int64_t items)
{
	S(s).SetItemsProcessed(items);
}

void bm_bytes(struct bm_state *s, int64_t bytes)
{
	S(s).SetBytesProcessed(bytes);
}

void bm_label(struct bm_state *s, const char *label)
{
	S(s).SetLabel(label);
}

// Google Benchmark 1.7 wants its loop opened and closed exactly once even after an error
// (closing it is where the threads of a run meet); after the error the next call closes it.
static void leave_with_error(struct bm_state *s, const char *prefix, const char *msg)
{
	std::string m = std::string(prefix) + msg;

	S(s).SkipWithError(m.c_str());
	while (!reinterpret_cast<state_box *>(s)->finished && bm_keep_running(s))
		;
}

void bm_skip(struct bm_state *s, const char *reason)
{
	leave_with_error(s, "skipped: ", reason);
}

void bm_fail(struct bm_state *s, const char *why)
{
	leave_with_error(s, "failed: ", why);
}

void bm_counter(struct bm_state *s, const char *name, double value, unsigned flags)
{
	int f = benchmark::Counter::kDefaults;

	if (flags & BM_RATE)
		f |= benchmark::Counter::kIsRate;
	if (flags & BM_AVG_THREADS)
		f |= benchmark::Counter::kAvgThreads;
	if (flags & BM_PER_ITER)
		f |= benchmark::Counter::kAvgIterations;
	S(s).counters[name] = benchmark::Counter(value, benchmark::Counter::Flags(f));
}

int bm_quick(void)
{
	return quick;
}

const char *bm_corpus_dir(void)
{
	return corpus_dir.c_str();
}

void bm_child_register(const char *name, bm_child_fn fn)
{
	children()[name] = fn;
}

int bm_run_child(const char *name, const char *arg, const char *preload, void *res, size_t size)
{
	int fds[2], status;
	size_t got = 0;
	pid_t pid;

	fflush(nullptr);
	if (pipe(fds)) {
		perror("bench: pipe");
		return -1;
	}
	pid = fork();
	if (pid < 0) {
		perror("bench: fork");
		close(fds[0]);
		close(fds[1]);
		return -1;
	}
	if (pid == 0) {
		std::string fd = std::to_string(fds[1]);
		std::string n = name, a = arg;
		char *argv[] = {const_cast<char *>("bench"), const_cast<char *>("--bm-child"),
				&n[0], &a[0], &fd[0], nullptr};

		close(fds[0]);
		if (preload)
			setenv("LD_PRELOAD", preload, 1);
		execv("/proc/self/exe", argv);
		fprintf(stderr, "bench: exec /proc/self/exe: %s\n", strerror(errno));
		_exit(127);
	}
	close(fds[1]);
	while (got < size) {
		ssize_t r = read(fds[0], static_cast<char *>(res) + got, size - got);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		got += r;
	}
	close(fds[0]);
	while (waitpid(pid, &status, 0) < 0) {
		if (errno != EINTR)
			return -1;
	}
	if (got != size || !WIFEXITED(status) || WEXITSTATUS(status)) {
		fprintf(stderr, "bench: child %s %s%s%s failed (%s)\n", name, arg,
			preload ? " with LD_PRELOAD=" : "", preload ? preload : "",
			WIFSIGNALED(status) ? strsignal(WTERMSIG(status)) : "exit status");
		return -1;
	}
	return 0;
}

} // extern "C"

int main(int argc, char **argv)
{
	std::vector<char *> args;

	if (argc > 1 && strcmp(argv[1], "--bm-child") == 0)
		return child_main(argc, argv);
	for (int i = 0; i < argc; i++) {
		if (strcmp(argv[i], "--quick") == 0)
			quick = true;
		else if (strncmp(argv[i], "--corpus-dir=", 13) == 0)
			corpus_dir = argv[i] + 13;
		else
			args.push_back(argv[i]);
	}
	int n = static_cast<int>(args.size());
	args.push_back(nullptr);
	benchmark::Initialize(&n, args.data());
	if (benchmark::ReportUnrecognizedArguments(n, args.data()))
		return 2;
	add_machine_context();
	for (const registration &r : registrations()) {
		auto *b = benchmark::RegisterBenchmark(r.name.c_str(), run_body, &r);
		if (r.config)
			r.config(reinterpret_cast<struct bm_bench *>(b));
	}
	benchmark::RunSpecifiedBenchmarks();
	benchmark::Shutdown();
	return 0;
}
