// Native hnswlib peer for `openbook-bench vectors`: the header-only library (Debian libhnswlib-dev) compiled on this
// machine with -O3 -march=native, so the comparison is not against a baseline-x86-64 Python wheel.
// Usage: hnsw_native DIR ip|l2 M efConstruction threads runs ef1,ef2,...   → one JSON object on stdout.
#include <hnswlib/hnswlib.h>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <unordered_set>
#include <vector>
#include <time.h>

static std::vector<float> read_vecs(const std::string& path, int& dim, size_t& n) {
    std::ifstream f(path, std::ios::binary);
    if (!f) { fprintf(stderr, "hnsw_native: cannot read %s\n", path.c_str()); exit(2); }
    f.seekg(0, std::ios::end);
    size_t bytes = f.tellg();
    f.seekg(0);
    int d = 0;
    f.read(reinterpret_cast<char*>(&d), 4);
    dim = d;
    n = bytes / (4 * (size_t)(d + 1));
    std::vector<float> data(n * d);
    f.seekg(0);
    for (size_t i = 0; i < n; i++) {
        f.read(reinterpret_cast<char*>(&d), 4);
        f.read(reinterpret_cast<char*>(&data[i * dim]), 4 * (size_t)dim);
    }
    return data;
}

static double cpu_seconds() {
    timespec t;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

static double wall_seconds() {
    return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

static double rss_mb() {
    std::ifstream f("/proc/self/status");
    std::string line;
    while (std::getline(f, line))
        if (line.rfind("VmRSS:", 0) == 0) return std::stod(line.substr(6)) / 1024.0;
    return 0;
}

template <class F> static void parallel_for(size_t n, int threads, F body) {
    std::atomic<size_t> next{0};
    std::vector<std::thread> pool;
    for (int t = 0; t < threads; t++)
        pool.emplace_back([&] { for (size_t i; (i = next.fetch_add(1)) < n;) body(i); });
    for (auto& t : pool) t.join();
}

int main(int argc, char** argv) {
    if (argc < 8) { fprintf(stderr, "usage: hnsw_native DIR ip|l2 M efConstruction threads runs ef1,ef2,...\n"); return 2; }
    std::string dir = argv[1], metric = argv[2];
    int M = atoi(argv[3]), efc = atoi(argv[4]), threads = atoi(argv[5]), runs = atoi(argv[6]);
    std::vector<int> efs;
    { std::stringstream ss(argv[7]); std::string x; while (std::getline(ss, x, ',')) efs.push_back(atoi(x.c_str())); }
    int dim = 0, qdim = 0, gdim = 0;
    size_t n = 0, nq = 0, ng = 0;
    auto base = read_vecs(dir + "/base.fvecs", dim, n);
    auto queries = read_vecs(dir + "/query.fvecs", qdim, nq);
    auto gtf = read_vecs(dir + "/gt.ivecs", gdim, ng);
    const int* gt = reinterpret_cast<const int*>(gtf.data());
    const int k = 10;
    hnswlib::SpaceInterface<float>* space = metric == "ip" ? (hnswlib::SpaceInterface<float>*)new hnswlib::InnerProductSpace(dim)
                                                           : (hnswlib::SpaceInterface<float>*)new hnswlib::L2Space(dim);
    double mem0 = rss_mb(), w0 = wall_seconds(), c0 = cpu_seconds();
    auto* index = new hnswlib::HierarchicalNSW<float>(space, n, M, efc, 100);
    index->addPoint(&base[0], 0);
    parallel_for(n - 1, threads, [&](size_t i) { index->addPoint(&base[(i + 1) * dim], i + 1); });
    double build = wall_seconds() - w0, build_cpu = cpu_seconds() - c0, mem = rss_mb() - mem0;
    printf("{\"rows\":[");
    for (size_t e = 0; e < efs.size(); e++) {
        index->setEf(std::max(efs[e], k));
        std::vector<std::vector<hnswlib::labeltype>> found(nq);
        double best = 1e30, best_cpu = 1e30, best_all = 1e30;
        for (int r = 0; r < runs; r++) {
            double w = wall_seconds(), c = cpu_seconds();
            for (size_t q = 0; q < nq; q++) {
                auto res = index->searchKnn(&queries[q * dim], k);
                found[q].clear();
                while (!res.empty()) { found[q].push_back(res.top().second); res.pop(); }
            }
            best = std::min(best, wall_seconds() - w);
            best_cpu = std::min(best_cpu, cpu_seconds() - c);
            w = wall_seconds();
            parallel_for(nq, threads, [&](size_t q) { index->searchKnn(&queries[q * dim], k); });
            best_all = std::min(best_all, wall_seconds() - w);
        }
        size_t hits = 0;
        for (size_t q = 0; q < nq; q++) {
            std::unordered_set<int> truth(gt + q * gdim, gt + q * gdim + k);
            for (auto id : found[q]) hits += truth.count((int)id);
        }
        printf("%s{\"engine\":\"hnswlib-native\",\"M\":%d,\"efConstruction\":%d,\"efSearch\":%d,\"recall10\":%.4f,\"qps1\":%.1f,\"qpsAll\":%.1f,"
               "\"buildSeconds\":%.3f,\"memoryMB\":%.1f,\"qps1Cpu\":%.1f,\"buildCpuSeconds\":%.3f}",
               e ? "," : "", M, efc, efs[e], (double)hits / (nq * k), nq / best, nq / best_all, build, mem, nq / best_cpu, build_cpu);
    }
    printf("]}\n");
    return 0;
}
