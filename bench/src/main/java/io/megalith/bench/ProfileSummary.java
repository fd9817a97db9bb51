package io.megalith.bench;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * Reads a libtorch profiler trace (Chrome trace JSON) and splits a step's time by kernel: self time
 * of every op (its duration minus the ops nested in it), grouped into matmul, other kernels, and the
 * rest of the wall time (Java, JNI, autograd bookkeeping, profiler overhead).
 */
final class ProfileSummary {
    private ProfileSummary() {}

    record Event(String name, long tid, double ts, double dur) {}

    static void print(Path trace, int steps, double wallMsPerStep) throws IOException {
        JsonNode root = new ObjectMapper().readTree(trace.toFile());
        JsonNode events = root.isArray() ? root : root.get("traceEvents");
        Map<Long, List<Event>> byThread = new HashMap<>();
        for (JsonNode e : events) {
            if ("X".equals(e.path("ph").asText()) && e.has("dur")) {
                Event ev = new Event(e.get("name").asText(), e.path("tid").asLong(), e.get("ts").asDouble(),
                        e.get("dur").asDouble());
                byThread.computeIfAbsent(ev.tid(), k -> new ArrayList<>()).add(ev);
            }
        }
        Map<String, Double> self = new HashMap<>();
        for (List<Event> list : byThread.values()) {
            list.sort(Comparator.comparingDouble(Event::ts).thenComparing(Comparator.comparingDouble(Event::dur).reversed()));
            List<Event> stack = new ArrayList<>();
            for (Event e : list) {
                while (!stack.isEmpty() && stack.get(stack.size() - 1).ts() + stack.get(stack.size() - 1).dur() <= e.ts()) {
                    stack.remove(stack.size() - 1);
                }
                if (!stack.isEmpty()) {
                    self.merge(stack.get(stack.size() - 1).name(), -e.dur(), Double::sum);
                }
                self.merge(e.name(), e.dur(), Double::sum);
                stack.add(e);
            }
        }
        double mm = 0;
        double kernels = 0;
        for (Map.Entry<String, Double> e : self.entrySet()) {
            double ms = e.getValue() / 1000 / steps;
            if (e.getKey().equals("aten::mm") || e.getKey().equals("aten::bmm") || e.getKey().equals("aten::addmm")) {
                mm += ms;
            } else {
                kernels += ms;
            }
        }
        System.out.printf("profile (ms/step, with profiler overhead): wall %.2f, matmul %.2f (%.0f%%), other ops %.2f (%.0f%%)%n",
                wallMsPerStep, mm, 100 * mm / wallMsPerStep, kernels, 100 * kernels / wallMsPerStep);
        self.entrySet().stream().sorted(Map.Entry.<String, Double>comparingByValue().reversed()).limit(15)
                .forEach(e -> System.out.printf("  %8.2f ms  %s%n", e.getValue() / 1000 / steps, e.getKey()));
    }
}
