"""The field loop generated from the design: questionnaire (XLSForm), coupon sheets, dashboard.

* :mod:`hiddenpop.field.form`: the XLSForm and the import mapping of its exports;
* :mod:`hiddenpop.field.codes`: coupon numbers with a Damm check digit;
* :mod:`hiddenpop.field.couponsheet`: printable coupon sheets (PDF, QR codes, cut lines);
* :mod:`hiddenpop.field.dashboard`: the coordinator's offline HTML dashboard.
"""
