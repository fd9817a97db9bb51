package io.megalith.core.inference;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * What a dit run's checkpoints record of its images (in the tokenizer's place, so a resume on other data is
 * refused): their shape, the model's classes (the null class is one more), the class names and the per-channel
 * normalisation the model learned in, which generation undoes to write PNGs. Text, one {@code key=value} a line.
 */
public record DitImages(int channels, int height, int width, int classes, List<String> classNames, double[] mean,
        double[] std) {
    public DitImages {
        classNames = List.copyOf(classNames);
    }

    public byte[] encode() {
        StringBuilder b = new StringBuilder();
        b.append("channels=").append(channels).append('\n');
        b.append("height=").append(height).append('\n');
        b.append("width=").append(width).append('\n');
        b.append("classes=").append(classes).append('\n');
        b.append("mean=").append(join(mean)).append('\n');
        b.append("std=").append(join(std)).append('\n');
        for (String name : classNames) {
            b.append("class=").append(name.replace('\n', ' ')).append('\n');
        }
        return b.toString().getBytes(StandardCharsets.UTF_8);
    }

    public static DitImages decode(byte[] bytes) {
        Map<String, String> kv = new LinkedHashMap<>();
        List<String> names = new ArrayList<>();
        for (String line : new String(bytes, StandardCharsets.UTF_8).split("\n")) {
            int eq = line.indexOf('=');
            if (eq < 0) {
                continue;
            }
            String key = line.substring(0, eq);
            if (key.equals("class")) {
                names.add(line.substring(eq + 1));
            } else {
                kv.put(key, line.substring(eq + 1));
            }
        }
        if (!kv.keySet().containsAll(List.of("channels", "height", "width", "classes", "mean", "std"))) {
            throw new IllegalArgumentException("not a dit run's image record: " + kv.keySet());
        }
        return new DitImages(Integer.parseInt(kv.get("channels")), Integer.parseInt(kv.get("height")),
                Integer.parseInt(kv.get("width")), Integer.parseInt(kv.get("classes")), names, doubles(kv.get("mean")),
                doubles(kv.get("std")));
    }

    /** Doubles written exactly (Double.toString round-trips). */
    private static String join(double[] v) {
        return String.join(",", Arrays.stream(v).mapToObj(Double::toString).toList());
    }

    private static double[] doubles(String s) {
        return Arrays.stream(s.split(",")).mapToDouble(Double::parseDouble).toArray();
    }
}
