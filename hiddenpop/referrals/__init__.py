"""Referral stage: what happens to a referral log between the field and the estimators.

One module per job (the ``hiddenpop referrals`` commands map onto them one to one):

=====================  =====================================================================
module                 job
=====================  =====================================================================
``schema``             column names: core, derived, personal, location; waiting rules
``validate``           the rules a referral log is checked against (one ``Problem`` per fault)
``coupons``            coupon matching (who recruited whom), coupon status and counts
``derive``             the one derivation of recruiters, waves, seeds and coupon counts
``intake``             the import plan: new / unchanged / changed / conflict / quarantined /
                       waiting rows, decided from the stored rows and the incoming table
``households``         selection events and the join of referral data onto household records
``fieldstatus``        reminders, recruitment by wave and seed, homophily (field summaries)
``graph``              the recruitment graph (``networkx``)
``plots``              recruitment trees, convergence and bottleneck pictures
=====================  =====================================================================

Reading files and the SQLite store live in :mod:`hiddenpop.io.referrals` and
:mod:`hiddenpop.io.store`; the estimators in :mod:`hiddenpop.rds`. Nothing here reads or writes a file.
Import the modules themselves (``from hiddenpop.referrals.validate import validate_log``): this
package does not load them all up front.
"""
