package io.megalith.core.inference;

import io.megalith.core.data.images.ImageSet;
import io.megalith.core.diffusion.FrechetDistance;
import java.io.PrintStream;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.SplittableRandom;

/**
 * How well a class-conditional generator (a trained DiT) draws its classes, judged by a trained classifier (a ViT on
 * the same images):
 * <ul>
 *   <li>class fidelity: the share of samples the classifier labels with the class they were generated for;
 *   <li>a Frechet distance (FID's measure) between the samples' and the held-out images' penultimate classifier
 *       features, beside two references computed the same way against the same held-out images: training images
 *       (the floor: real against real) and per-class mean images plus per-pixel Gaussian noise (a bad generator
 *       that has each class's first two pixel moments but none of its structure).
 * </ul>
 * Images are compared as stored (bytes, what the PNGs hold), each read in the classifier's normalisation.
 *
 * @param perClass samples per class for the class fidelity
 * @param fidelity the share of those labelled with their own class
 * @param classFidelity the same per class
 * @param sampleSeconds wall time of sampling the class-fidelity images
 * @param images images on each side of every Frechet distance
 * @param samplesVsHeldOut the generator's distance
 * @param trainVsHeldOut the floor
 * @param badVsHeldOut the bad generator's distance
 * @param classifierAccuracy the classifier's accuracy on those held-out images (how far its labels can be trusted)
 * @param classifierByClass the same per class (what each class's fidelity can be read against)
 * @param badFidelity the classifier's class fidelity on the bad generator's images
 */
public record SampleQuality(int perClass, double fidelity, double[] classFidelity, double sampleSeconds, int images,
        double samplesVsHeldOut, double trainVsHeldOut, double badVsHeldOut, double classifierAccuracy,
        double[] classifierByClass, double badFidelity) {

    /**
     * Samples {@code max(perClass x classes, images)} images of {@code generator} (class i mod classes for image i,
     * the first {@code perClass x classes} timed and labelled), and measures them and the references with
     * {@code classifier} against its run's first {@code images} held-out images (the floor: its first
     * {@code images} training images).
     */
    public static SampleQuality measure(TrainedDit generator, TrainedDit.Sampling how, TrainedVit classifier,
            int perClass, int images, PrintStream log) {
        var stored = classifier.images();
        int classes = generator.classes();
        if (classes != stored.classNames().size()) {
            throw new IllegalArgumentException("the generator draws " + classes + " classes, the classifier knows "
                    + stored.classNames().size());
        }
        if (images < 2 || images > stored.heldOut().size() || images > stored.train().size()) {
            throw new IllegalArgumentException(images + " images per side: the classifier's run has "
                    + stored.train().size() + " training and " + stored.heldOut().size() + " held-out images");
        }
        int labelled = perClass * classes;
        int n = Math.max(labelled, images);
        long[] labels = new long[n];
        for (int i = 0; i < n; i++) {
            labels[i] = i % classes;
        }
        long t0 = System.nanoTime();
        float[] first = generator.sample(Arrays.copyOf(labels, labelled), 0, how);
        double seconds = (System.nanoTime() - t0) / 1e9;
        log.printf("sampled %d images (%d per class) in %.1f s%n", labelled, perClass, seconds);
        float[] rest = generator.sample(Arrays.copyOfRange(labels, labelled, n), labelled, how); // new noise
        float[] all = Arrays.copyOf(first, first.length + rest.length);
        System.arraycopy(rest, 0, all, first.length, rest.length);
        ImageSet samples = generator.stored(all, labels);
        log.printf("sampled %d more in %.1f s%n", n - labelled, (System.nanoTime() - t0) / 1e9 - seconds);

        ImageSet labelledSamples = samples.slice(0, labelled);
        double[] perClassHits = agreement(classifier.classify(labelledSamples), labelledSamples.labels(), classes);
        ImageSet heldOut = stored.heldOut().slice(0, images);
        ImageSet train = stored.train().slice(0, images);
        ImageSet bad = badGenerator(stored.train(), images, classes, 1);
        double[][] heldOutFeatures = classifier.features(heldOut);
        double fidSamples = FrechetDistance.between(classifier.features(samples.slice(0, images)), heldOutFeatures);
        double fidTrain = FrechetDistance.between(classifier.features(train), heldOutFeatures);
        double fidBad = FrechetDistance.between(classifier.features(bad), heldOutFeatures);
        double[] heldOutByClass = agreement(classifier.classify(heldOut), heldOut.labels(), classes);
        double badFidelity = mean(agreement(classifier.classify(bad), bad.labels(), classes), bad.labels(), classes);
        return new SampleQuality(perClass, mean(perClassHits, labelledSamples.labels(), classes), perClassHits,
                seconds, images, fidSamples, fidTrain, fidBad, mean(heldOutByClass, heldOut.labels(), classes),
                heldOutByClass, badFidelity);
    }

    /** Per class c: the share of images labelled c that {@code predicted} labels c (NaN for a class with none). */
    static double[] agreement(int[] predicted, int[] labels, int classes) {
        double[] hits = new double[classes];
        double[] count = new double[classes];
        for (int i = 0; i < labels.length; i++) {
            count[labels[i]]++;
            hits[labels[i]] += predicted[i] == labels[i] ? 1 : 0;
        }
        for (int c = 0; c < classes; c++) {
            hits[c] = count[c] == 0 ? Double.NaN : hits[c] / count[c];
        }
        return hits;
    }

    /** The overall share from per-class shares, each weighted by its number of images. */
    private static double mean(double[] perClass, int[] labels, int classes) {
        double[] count = new double[classes];
        for (int label : labels) {
            count[label]++;
        }
        double sum = 0;
        for (int c = 0; c < classes; c++) {
            sum += count[c] == 0 ? 0 : perClass[c] * count[c];
        }
        return sum / labels.length;
    }

    /**
     * {@code count} images (class i mod classes) of a bad generator: the class's mean image plus independent Gaussian
     * noise of the class's per-pixel standard deviation, rounded and clamped to bytes.
     */
    public static ImageSet badGenerator(ImageSet train, int count, int classes, long seed) {
        int n = train.imageBytes();
        double[][] sum = new double[classes][n];
        double[][] squares = new double[classes][n];
        int[] images = new int[classes];
        for (int i = 0; i < train.size(); i++) {
            int c = train.labels()[i];
            images[c]++;
            for (int p = 0; p < n; p++) {
                double v = train.pixels()[i * n + p] & 0xff;
                sum[c][p] += v;
                squares[c][p] += v * v;
            }
        }
        SplittableRandom random = new SplittableRandom(seed);
        byte[] pixels = new byte[count * n];
        int[] labels = new int[count];
        for (int i = 0; i < count; i++) {
            int c = i % classes;
            if (images[c] == 0) {
                throw new IllegalArgumentException("no training image of class " + c);
            }
            labels[i] = c;
            for (int p = 0; p < n; p++) {
                double mu = sum[c][p] / images[c];
                double sd = Math.sqrt(Math.max(squares[c][p] / images[c] - mu * mu, 0));
                double v = mu + sd * random.nextGaussian();
                pixels[i * n + p] = (byte) Math.max(0, Math.min(255, Math.round(v)));
            }
        }
        return new ImageSet(pixels, labels, train.channels(), train.height(), train.width());
    }

    /** The numbers as a JSON-ready map. */
    public Map<String, Object> record() {
        Map<String, Object> r = new LinkedHashMap<>();
        r.put("per_class", perClass);
        r.put("class_fidelity", fidelity);
        r.put("class_fidelity_by_class", classFidelity);
        r.put("sample_seconds", sampleSeconds);
        r.put("fid_images", images);
        r.put("fid_samples_vs_held_out", samplesVsHeldOut);
        r.put("fid_train_vs_held_out", trainVsHeldOut);
        r.put("fid_bad_generator_vs_held_out", badVsHeldOut);
        r.put("classifier_accuracy_held_out", classifierAccuracy);
        r.put("classifier_accuracy_by_class", classifierByClass);
        r.put("bad_generator_class_fidelity", badFidelity);
        return r;
    }
}
