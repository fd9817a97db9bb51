package io.megalith.core.inference;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Base64;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * What a dit run's checkpoints record of its images (in the tokenizer's place, so a resume on other data is
 * refused): their shape, the model's classes (the null class is one more), the class names and the per-channel
 * normalisation the model learned in, which generation undoes to write PNGs; a text-to-image run's {@link Captions}
 * too. Text, one {@code key=value} a line.
 */
public record DitImages(int channels, int height, int width, int classes, List<String> classNames, double[] mean,
        double[] std, Captions captions) {
    public DitImages {
        classNames = List.copyOf(classNames);
    }

    /** A class-conditioned run's record (no captions). */
    public DitImages(int channels, int height, int width, int classes, List<String> classNames, double[] mean,
            double[] std) {
        this(channels, height, width, classes, classNames, mean, std, null);
    }

    /**
     * A text-to-image run's captions: the tokenizer fitted to them ({@code Tokenizers.toBytes}) and the prompts
     * {@code megalith generate} draws by default (held-out compositions' captions).
     */
    public record Captions(byte[] tokenizer, List<String> prompts) {
        public Captions {
            tokenizer = tokenizer.clone();
            prompts = List.copyOf(prompts);
        }

        @Override
        public byte[] tokenizer() {
            return tokenizer.clone();
        }
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
        if (captions != null) { // a class run's record stays as it was (its resumes compare the bytes)
            b.append("tokenizer=").append(Base64.getEncoder().encodeToString(captions.tokenizer())).append('\n');
            for (String p : captions.prompts()) {
                b.append("prompt=").append(p.replace('\n', ' ')).append('\n');
            }
        }
        return b.toString().getBytes(StandardCharsets.UTF_8);
    }

    public static DitImages decode(byte[] bytes) {
        Map<String, String> kv = new LinkedHashMap<>();
        List<String> names = new ArrayList<>();
        List<String> prompts = new ArrayList<>();
        for (String line : new String(bytes, StandardCharsets.UTF_8).split("\n")) {
            int eq = line.indexOf('=');
            if (eq < 0) {
                continue;
            }
            String key = line.substring(0, eq);
            if (key.equals("class")) {
                names.add(line.substring(eq + 1));
            } else if (key.equals("prompt")) {
                prompts.add(line.substring(eq + 1));
            } else {
                kv.put(key, line.substring(eq + 1));
            }
        }
        if (!kv.keySet().containsAll(List.of("channels", "height", "width", "classes", "mean", "std"))) {
            throw new IllegalArgumentException("not a dit run's image record: " + kv.keySet());
        }
        return new DitImages(Integer.parseInt(kv.get("channels")), Integer.parseInt(kv.get("height")),
                Integer.parseInt(kv.get("width")), Integer.parseInt(kv.get("classes")), names, doubles(kv.get("mean")),
                doubles(kv.get("std")), kv.containsKey("tokenizer") ? new Captions(Base64.getDecoder().decode(
                        kv.get("tokenizer")), prompts) : null);
    }

    /** Doubles written exactly (Double.toString round-trips). */
    private static String join(double[] v) {
        return String.join(",", Arrays.stream(v).mapToObj(Double::toString).toList());
    }

    private static double[] doubles(String s) {
        return Arrays.stream(s.split(",")).mapToDouble(Double::parseDouble).toArray();
    }
}
