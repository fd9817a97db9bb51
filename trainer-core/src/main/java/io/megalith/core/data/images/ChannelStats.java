package io.megalith.core.data.images;

import java.io.Serializable;
import java.util.Arrays;

/**
 * Per-channel pixel sums of a set of images, exact (integers), so sums of pieces added in any order (Spark tasks)
 * give the same mean and std bit for bit as one pass over the whole split. Pixels are read as x / 255 in [0, 1]:
 * mean = sum / (255 n), std = sqrt(sum of squares / (255^2 n) - mean^2).
 */
public final class ChannelStats implements Serializable {
    private static final long serialVersionUID = 1L;

    private final long[] sum;
    private final long[] sumSquares;
    private long pixelsPerChannel;

    public ChannelStats(int channels) {
        this.sum = new long[channels];
        this.sumSquares = new long[channels];
    }

    public static ChannelStats of(ImageSet images) {
        ChannelStats s = new ChannelStats(images.channels());
        s.add(images);
        return s;
    }

    public void add(ImageSet images) {
        int plane = images.height() * images.width();
        byte[] px = images.pixels();
        for (int i = 0, at = 0; i < images.size(); i++) {
            for (int c = 0; c < sum.length; c++) {
                long s = 0;
                long q = 0;
                for (int p = 0; p < plane; p++, at++) {
                    int v = px[at] & 0xff;
                    s += v;
                    q += v * v;
                }
                sum[c] += s;
                sumSquares[c] += q;
            }
        }
        pixelsPerChannel += (long) images.size() * plane;
    }

    public ChannelStats plus(ChannelStats o) {
        ChannelStats r = new ChannelStats(sum.length);
        for (int c = 0; c < sum.length; c++) {
            r.sum[c] = sum[c] + o.sum[c];
            r.sumSquares[c] = sumSquares[c] + o.sumSquares[c];
        }
        r.pixelsPerChannel = pixelsPerChannel + o.pixelsPerChannel;
        return r;
    }

    public double[] mean() {
        double[] m = new double[sum.length];
        for (int c = 0; c < m.length; c++) {
            m[c] = sum[c] / (255.0 * pixelsPerChannel);
        }
        return m;
    }

    /** Population std per channel; 1 for a constant channel (normalising must not divide by 0). */
    public double[] std() {
        double[] m = mean();
        double[] s = new double[sum.length];
        for (int c = 0; c < s.length; c++) {
            double var = sumSquares[c] / (255.0 * 255.0 * pixelsPerChannel) - m[c] * m[c];
            s[c] = var > 1e-12 ? Math.sqrt(var) : 1.0;
        }
        return s;
    }

    @Override
    public String toString() {
        return "mean " + Arrays.toString(mean()) + " std " + Arrays.toString(std());
    }
}
